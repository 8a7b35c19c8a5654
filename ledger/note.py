"""C2SP signed notes and tlog-checkpoint bodies, with post-quantum signature types (no Django).

Checkpoint body (c2sp.org/tlog-checkpoint): three lines, each ending in a newline —
origin, tree size in ASCII decimal (no leading zeroes), base64 (RFC 4648 standard) of the
RFC 9162 root hash — then optional non-empty extension lines (we never emit any).

Signed note (c2sp.org/signed-note): note text, a blank line, then one line per signature
``— <key name> base64(key ID (4 bytes, big endian) || signature)``. Key IDs are the
recommended ``SHA-256(key name || 0x0A || signature type || public key)[:4]``.

Signature types used here
-------------------------
* **Ed25519**, type byte ``0x01``: RFC 8032 over the whole note text (as Go's
  golang.org/x/mod/sumdb/note). C2SP requires one on every checkpoint of a log that talks to
  the public witness network, so the log signs with it first.
* **cosignature/v1**, type byte ``0x04`` (c2sp.org/tlog-cosignature, Ed25519): a witness
  key. The signature is ``u64 timestamp || Ed25519 signature`` over
  ``"cosignature/v1\ntime <timestamp>\n" || note text`` (extension lines included).
* **ML-DSA-44**, type byte ``0x06``: exactly the ML-DSA-44 *cosignature* of
  c2sp.org/tlog-cosignature (the type the checkpoint spec recommends for logs). The
  signature is ``u64 timestamp || ML-DSA-44 signature`` over the ``cosigned_message``
  ``"subtree/v1\\n\\0" || u8-prefixed name || u64 timestamp || u8-prefixed origin ||
  u64 start (0) || u64 end (tree size) || root hash``; it signs the checkpoint's first
  three lines, not the extension lines. Standard witnesses can verify and cosign it.
* **Falcon-512**: C2SP registers no identifier byte for Falcon. Following the signed-note
  rule for unassigned types we use ``0xff`` followed by the longer identifier
  ``b"qmedchain/falcon-512"``, i.e. the signature type is the 21 bytes
  ``0xff || "qmedchain/falcon-512"`` and the key ID is
  ``SHA-256(name || 0x0A || 0xff || "qmedchain/falcon-512" || 897-byte public key)[:4]``.
  The signature is the raw Falcon-512 signature (pqcrypto / PQClean, "compressed"
  format, variable length) over the whole note text, like the Ed25519 type.

Verifier keys ("vkeys") are encoded as in Go's golang.org/x/mod/sumdb/note:
``<name>+<key ID as 8 hex digits>+base64(signature type || public key)``, and signer keys
("skeys") as ``PRIVATE+KEY+<name>+<key ID>+base64(signature type || private key)`` (for
Ed25519 types the private key is the 32-byte seed, as in Go).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

# re-exported: ledger.chain and the verifiers check entry signatures with falcon_512
from pqcrypto.sign import falcon_512 as falcon_512
from pqcrypto.sign import ml_dsa_44 as ml_dsa_44

ED25519_TYPE = b"\x01"
COSIG_V1_TYPE = b"\x04"
FALCON_TYPE = b"\xff" + b"qmedchain/falcon-512"
MLDSA_TYPE = b"\x06"
ALG_ED25519 = "ed25519"
ALG_COSIG_V1 = "cosignature/v1"
ALG_FALCON = "falcon-512"
ALG_MLDSA = "ml-dsa-44"
ALGORITHMS = {
    ALG_ED25519: ED25519_TYPE,
    ALG_COSIG_V1: COSIG_V1_TYPE,
    ALG_FALCON: FALCON_TYPE,
    ALG_MLDSA: MLDSA_TYPE,
}
ED25519_KEY_SIZE = 32
ED25519_SIGNATURE_SIZE = 64
PUBLIC_KEY_SIZES = {
    ALG_ED25519: ED25519_KEY_SIZE,
    ALG_COSIG_V1: ED25519_KEY_SIZE,
    ALG_FALCON: falcon_512.PUBLIC_KEY_SIZE,
    ALG_MLDSA: ml_dsa_44.PUBLIC_KEY_SIZE,
}
# types whose signature starts with a u64 timestamp (c2sp.org/tlog-cosignature)
TIMESTAMPED = frozenset({ALG_COSIG_V1, ALG_MLDSA})
MAX_SIGNATURES = 64  # the log's lines plus a cosignature from each of ~20 witnesses
MAX_TIMESTAMP = 2**63 - 1
SIG_PREFIX = "\u2014 "
SKEY_PREFIX = "PRIVATE+KEY+"
COSIGN_LABEL = b"subtree/v1\n\x00"
COSIG_V1_HEADER = "cosignature/v1\n"


class NoteError(ValueError):
    """Malformed note/checkpoint or a signature that does not verify."""


# --- keys -------------------------------------------------------------------------------


def check_name(name: str) -> None:
    if not name or any(c.isspace() for c in name) or "+" in name:
        raise NoteError(f"invalid key name {name!r}")


def key_id(name: str, algorithm: str, public_key: bytes) -> int:
    check_name(name)
    t = ALGORITHMS[algorithm]
    return int.from_bytes(hashlib.sha256(name.encode() + b"\n" + t + public_key).digest()[:4], "big")


def key_id_hex(name: str, algorithm: str, public_key: bytes) -> str:
    return f"{key_id(name, algorithm, public_key):08x}"


def vkey(name: str, algorithm: str, public_key: bytes) -> str:
    kid = key_id_hex(name, algorithm, public_key)
    return f"{name}+{kid}+{base64.b64encode(ALGORITHMS[algorithm] + public_key).decode()}"


def parse_vkey(text: str) -> Verifier:
    try:
        name, kid, b64 = text.strip().split("+", 2)
        raw = base64.b64decode(b64, validate=True)
    except (ValueError, binascii.Error):
        raise NoteError("malformed verifier key") from None
    for alg, t in ALGORITHMS.items():
        if raw.startswith(t) and len(raw) == len(t) + PUBLIC_KEY_SIZES[alg]:
            v = Verifier(name, alg, raw[len(t) :])
            if v.key_id_hex != kid:
                raise NoteError("verifier key id does not match its key")
            return v
    raise NoteError("verifier key has an unknown signature type")


def skey(name: str, algorithm: str, private_key: bytes) -> str:
    """Signer key text (secret): ``PRIVATE+KEY+<name>+<key ID>+base64(type || private key)``."""
    public = public_key_of(algorithm, private_key)
    kid = key_id_hex(name, algorithm, public)
    return f"{SKEY_PREFIX}{name}+{kid}+{base64.b64encode(ALGORITHMS[algorithm] + private_key).decode()}"


def parse_skey(text: str) -> Signer:
    """Parse a signer key. Only the Ed25519 types: the post-quantum private keys do not
    determine a public key we could check the key ID against."""
    if not text.startswith(SKEY_PREFIX):
        raise NoteError("malformed signer key")
    try:
        name, kid, b64 = text[len(SKEY_PREFIX) :].strip().split("+", 2)
        raw = base64.b64decode(b64, validate=True)
    except (ValueError, binascii.Error):
        raise NoteError("malformed signer key") from None
    for alg in (ALG_ED25519, ALG_COSIG_V1):
        t = ALGORITHMS[alg]
        if raw.startswith(t) and len(raw) == len(t) + ED25519_KEY_SIZE:
            seed = raw[len(t) :]
            signer = Signer(name, alg, public_key_of(alg, seed), seed)
            if signer.verifier().key_id_hex != kid:
                raise NoteError("signer key id does not match its key")
            return signer
    raise NoteError("signer key has an unsupported signature type")


def generate(algorithm: str) -> tuple[bytes, bytes]:
    """(public key, private key); for the Ed25519 types the private key is the 32-byte seed."""
    if algorithm in (ALG_ED25519, ALG_COSIG_V1):
        seed = Ed25519PrivateKey.generate().private_bytes_raw()
        return public_key_of(algorithm, seed), seed
    if algorithm not in ALGORITHMS:
        raise NoteError(f"unknown signature algorithm {algorithm!r}")
    mod = falcon_512 if algorithm == ALG_FALCON else ml_dsa_44
    public, private = mod.generate_keypair()
    return bytes(public), bytes(private)


def public_key_of(algorithm: str, private_key: bytes) -> bytes:
    """The public key of an Ed25519-type seed (the only types whose private key implies it)."""
    if algorithm not in (ALG_ED25519, ALG_COSIG_V1):
        raise NoteError(f"cannot derive a {algorithm} public key from its private key")
    if len(private_key) != ED25519_KEY_SIZE:
        raise NoteError("an Ed25519 private key is a 32-byte seed")
    return Ed25519PrivateKey.from_private_bytes(private_key).public_key().public_bytes_raw()


@dataclass(frozen=True)
class Verifier:
    name: str
    algorithm: str
    public_key: bytes = field(repr=False)

    @property
    def key_id(self) -> int:
        return key_id(self.name, self.algorithm, self.public_key)

    @property
    def key_id_hex(self) -> str:
        return f"{self.key_id:08x}"

    @property
    def vkey(self) -> str:
        return vkey(self.name, self.algorithm, self.public_key)

    def verify(self, text: str, sig: bytes) -> bool:
        if self.algorithm == ALG_ED25519:
            return _ed25519_verify(self.public_key, text.encode(), sig)
        if self.algorithm == ALG_FALCON:
            return _safe_verify(falcon_512, self.public_key, text.encode(), sig)
        if self.algorithm == ALG_COSIG_V1:
            if len(sig) != 8 + ED25519_SIGNATURE_SIZE:
                return False
            ts = struct.unpack(">Q", sig[:8])[0]
            if ts > MAX_TIMESTAMP:
                return False
            return _ed25519_verify(self.public_key, cosig_v1_message(ts, text), sig[8:])
        if len(sig) != 8 + ml_dsa_44.SIGNATURE_SIZE:
            return False
        ts = struct.unpack(">Q", sig[:8])[0]
        try:
            msg = cosigned_message(self.name, ts, text)
        except NoteError:
            return False
        return _safe_verify(ml_dsa_44, self.public_key, msg, sig[8:])

    def timestamp(self, sig: bytes) -> int | None:
        """The cosignature timestamp a signature of this key carries (None for untimed types)."""
        if self.algorithm not in TIMESTAMPED or len(sig) < 8:
            return None
        return int(struct.unpack(">Q", sig[:8])[0])


@dataclass(frozen=True)
class Signer:
    name: str
    algorithm: str
    public_key: bytes = field(repr=False)
    private_key: bytes = field(default=b"", repr=False)

    def verifier(self) -> Verifier:
        return Verifier(self.name, self.algorithm, self.public_key)

    def sign(self, text: str, *, timestamp: int = 0) -> bytes:
        """Sign note text; `timestamp` (POSIX seconds) is used by the timestamped types only."""
        if self.algorithm == ALG_ED25519:
            return Ed25519PrivateKey.from_private_bytes(self.private_key).sign(text.encode())
        if self.algorithm == ALG_FALCON:
            return bytes(falcon_512.sign(self.private_key, text.encode()))
        if self.algorithm == ALG_COSIG_V1:
            parse_checkpoint(text)  # a cosignature is a statement about a checkpoint only
            msg = cosig_v1_message(timestamp, text)
            key = Ed25519PrivateKey.from_private_bytes(self.private_key)
            return struct.pack(">Q", timestamp) + key.sign(msg)
        msg = cosigned_message(self.name, timestamp, text)
        return struct.pack(">Q", timestamp) + bytes(ml_dsa_44.sign(self.private_key, msg))


def _ed25519_verify(pk: bytes, msg: bytes, sig: bytes) -> bool:
    if len(pk) != ED25519_KEY_SIZE or len(sig) != ED25519_SIGNATURE_SIZE:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(pk).verify(sig, msg)
    except (InvalidSignature, ValueError):
        return False
    return True


def cosig_v1_message(timestamp: int, text: str) -> bytes:
    """The message a cosignature/v1 signs: header, time line, then the whole note text."""
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise NoteError("timestamp out of range")
    return f"{COSIG_V1_HEADER}time {timestamp}\n{text}".encode()


def _safe_verify(mod: Any, pk: bytes, msg: bytes, sig: bytes) -> bool:
    try:
        return bool(mod.verify(pk, msg, sig))
    except Exception:  # noqa: BLE001 - malformed input must read as "does not verify"
        return False


def cosigned_message(name: str, timestamp: int, text: str) -> bytes:
    cp = parse_checkpoint(text)
    n, o = name.encode(), cp.origin.encode()
    if not 0 < len(n) < 256 or not 0 < len(o) < 256:
        raise NoteError("name or origin too long for a cosignature")
    if timestamp >= 2**63:
        raise NoteError("timestamp out of range")
    return (
        COSIGN_LABEL
        + bytes([len(n)])
        + n
        + struct.pack(">Q", timestamp)
        + bytes([len(o)])
        + o
        + struct.pack(">QQ", 0, cp.size)
        + cp.root
    )


# --- checkpoints ------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        return checkpoint_text(self.origin, self.size, self.root, self.extensions)


def checkpoint_text(origin: str, size: int, root: bytes, extensions: Iterable[str] = ()) -> str:
    if not origin or "\n" in origin:
        raise NoteError("invalid origin")
    if size < 0 or len(root) != 32:
        raise NoteError("invalid size or root")
    lines = [origin, str(size), base64.b64encode(root).decode(), *extensions]
    if any(not line or "\n" in line for line in lines):
        raise NoteError("checkpoint lines must be non-empty")
    return "\n".join(lines) + "\n"


def parse_checkpoint(text: str) -> Checkpoint:
    if not text.endswith("\n"):
        raise NoteError("checkpoint text must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3 or any(not line for line in lines):
        raise NoteError("checkpoint needs at least three non-empty lines")
    origin, size_s, root_s = lines[:3]
    if not size_s.isascii() or not size_s.isdigit() or (size_s != "0" and size_s.startswith("0")):
        raise NoteError("checkpoint tree size is not a decimal without leading zeroes")
    try:
        root = base64.b64decode(root_s, validate=True)
    except binascii.Error:
        raise NoteError("checkpoint root hash is not base64") from None
    if len(root) != 32 or base64.b64encode(root).decode() != root_s:
        raise NoteError("checkpoint root hash is not a canonical base64 32-byte hash")
    return Checkpoint(origin, int(size_s), root, tuple(lines[3:]))


# --- signed notes -----------------------------------------------------------------------


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_id: int
    signature: bytes  # without the 4-byte key id


def signature_lines(text: str, signers: Iterable[Signer], *, timestamp: int = 0) -> list[str]:
    """One ``"— name base64(key ID || signature)\\n"`` line per signer, in order."""
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline")
    lines = []
    for s in signers:
        kid = key_id(s.name, s.algorithm, s.public_key)
        sig = s.sign(text, timestamp=timestamp)
        lines.append(f"{SIG_PREFIX}{s.name} {base64.b64encode(struct.pack('>I', kid) + sig).decode()}\n")
    return lines


def sign_note(text: str, signers: Iterable[Signer], *, timestamp: int = 0) -> str:
    return text + "\n" + "".join(signature_lines(text, signers, timestamp=timestamp))


def add_signatures(signed_note: str, lines: Iterable[str]) -> str:
    """Append signature lines to a signed note, dropping lines it already carries.

    Nothing is verified here (that is `verified_signatures`' job); each line must be a
    well-formed signature line, with or without its final newline.
    """
    text, _ = split_note(signed_note)
    have = signed_note[len(text) + 1 :].split("\n")[:-1]
    seen = set(have)
    out = list(have)
    for line in lines:
        line = line[:-1] if line.endswith("\n") else line
        if "\n" in line:
            raise NoteError("a signature line must be a single line")
        parse_signature_line(line)
        if line not in seen:
            seen.add(line)
            out.append(line)
    result = text + "\n" + "".join(f"{line}\n" for line in out)
    split_note(result)  # re-check the whole (count limit, control characters)
    return result


def verified_signatures(signed_note: str, verifiers: Iterable[Verifier]) -> list[tuple[Verifier, int | None]]:
    """Every known key with a signature on the note that verifies, and its timestamp.

    Unlike `open_note` this never raises for a signature that fails (the caller counts
    what verified); it raises NoteError only for a note that is malformed. Each key
    appears at most once (its first verifying signature); the timestamp is None for the
    types that carry none (Ed25519, Falcon-512).
    """
    text, sigs = split_note(signed_note)
    known = {(v.name, v.key_id): v for v in verifiers}
    out: list[tuple[Verifier, int | None]] = []
    done: set[tuple[str, int]] = set()
    for s in sigs:
        ident = (s.name, s.key_id)
        v = known.get(ident)
        if v is None or ident in done or not v.verify(text, s.signature):
            continue
        done.add(ident)
        out.append((v, v.timestamp(s.signature)))
    return out


def split_note(note: str) -> tuple[str, list[NoteSignature]]:
    if not isinstance(note, str) or not note.endswith("\n"):
        raise NoteError("signed note must end with a newline")
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise NoteError("signed note contains control characters")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise NoteError("signed note has no blank line before the signatures")
    text, sig_block = note[: cut + 1], note[cut + 2 :]
    sigs = [parse_signature_line(line) for line in sig_block[:-1].split("\n")]
    if not sigs:
        raise NoteError("signed note has no signatures")
    if len(sigs) > MAX_SIGNATURES:
        raise NoteError("too many signatures")
    return text, sigs


def parse_signature_line(line: str) -> NoteSignature:
    """One signature line, without its final newline."""
    if not line.startswith(SIG_PREFIX):
        raise NoteError("malformed signature line")
    try:
        name, b64 = line[len(SIG_PREFIX) :].split(" ")
        raw = base64.b64decode(b64, validate=True)
    except (ValueError, binascii.Error):
        raise NoteError("malformed signature line") from None
    if len(raw) < 5 or not name:
        raise NoteError("signature too short")
    return NoteSignature(name, int.from_bytes(raw[:4], "big"), raw[4:])


def open_note(
    note: str, verifiers: Iterable[Verifier], *, require: Iterable[str] | None = None
) -> tuple[str, list[Verifier]]:
    """Verify a signed note against known keys; returns (text, verifiers that signed it).

    Signatures from unknown keys (name and key ID not both matching) are ignored, as the
    spec requires; a signature from a known key that fails to verify rejects the note; a
    note with no verified signature from a known key is rejected. `require` (a set of
    algorithms) additionally demands a verified signature of each of those algorithms.
    """
    text, sigs = split_note(note)
    known = {(v.name, v.key_id): v for v in verifiers}
    ok: list[Verifier] = []
    for s in sigs:
        v = known.get((s.name, s.key_id))
        if v is None:
            continue
        if not v.verify(text, s.signature):
            raise NoteError(f"signature by {s.name} key {s.key_id:08x} ({v.algorithm}) does not verify")
        ok.append(v)
    if not ok:
        raise NoteError("no signature from a known key")
    missing = set(require or ()) - {v.algorithm for v in ok}
    if missing:
        raise NoteError(f"no verified {', '.join(sorted(missing))} signature from a known key")
    return text, ok

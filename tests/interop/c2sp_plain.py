"""The C2SP wire formats written out by hand with plain `cryptography`, so the interop tests
do not depend on ledger.note for what they check ledger.note against.

signed-note:      text, a blank line, ``— <name> base64(key ID || signature)`` per signature;
                  key ID = SHA-256(name || 0x0A || type || public key)[:4]; vkey
                  ``<name>+<key ID hex>+base64(type || public key)``; Ed25519 type 0x01.
tlog-checkpoint:  ``<origin>\\n<size>\\n<base64 root>\\n``.
tlog-cosignature: cosignature/v1, type 0x04, signature = u64 timestamp || Ed25519 over
                  ``cosignature/v1\\ntime <timestamp>\\n`` || the checkpoint text.
tlog-witness:     add-checkpoint body ``old <size>\\n``, one base64 proof hash per line, a blank
                  line, the signed checkpoint.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ED25519 = 0x01
COSIGNATURE_V1 = 0x04
EM_DASH = "\u2014"


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def key_id(name: str, sig_type: int, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public_key).digest()[:4]


def vkey(name: str, sig_type: int, public_key: bytes) -> str:
    return f"{name}+{key_id(name, sig_type, public_key).hex()}+{b64(bytes([sig_type]) + public_key)}"


def parse_vkey(text: str) -> tuple[str, bytes, int, bytes]:
    """(name, key ID, type, public key)."""
    name, kid, material = text.split("+", 2)
    raw = base64.b64decode(material, validate=True)
    assert key_id(name, raw[0], raw[1:]).hex() == kid, "vkey ID does not match its key"
    return name, bytes.fromhex(kid), raw[0], raw[1:]


def public_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes_raw()


def checkpoint_text(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{b64(root)}\n"


def signature_line(name: str, kid: bytes, signature: bytes) -> str:
    return f"{EM_DASH} {name} {b64(kid + signature)}\n"


def signed_checkpoint(origin: str, size: int, root: bytes, key: Ed25519PrivateKey) -> str:
    """An Ed25519 (0x01) signed note over the checkpoint, signed under the origin as key name."""
    text = checkpoint_text(origin, size, root)
    sig = key.sign(text.encode())
    return text + "\n" + signature_line(origin, key_id(origin, ED25519, public_bytes(key)), sig)


def add_checkpoint_body(old_size: int, proof: Sequence[bytes], note: str) -> bytes:
    return (f"old {old_size}\n" + "".join(b64(h) + "\n" for h in proof) + "\n" + note).encode()


def verify_cosignature_line(line: str, checkpoint: str, witness_vkey: str) -> int:
    """Check one cosignature/v1 line over `checkpoint` (its text) by `witness_vkey`; its timestamp."""
    name, kid, sig_type, public_key = parse_vkey(witness_vkey)
    assert sig_type == COSIGNATURE_V1, f"witness vkey type 0x{sig_type:02x}, want 0x04"
    prefix = f"{EM_DASH} {name} "
    assert line.startswith(prefix) and line.endswith("\n"), f"not a signature line by {name}: {line!r}"
    blob = base64.b64decode(line[len(prefix) : -1], validate=True)
    assert blob[:4] == kid, "cosignature key ID does not match the witness vkey"
    assert len(blob) == 4 + 8 + 64, f"cosignature/v1 blob is {len(blob)} bytes, want 76"
    timestamp = int.from_bytes(blob[4:12], "big")
    message = f"cosignature/v1\ntime {timestamp}\n".encode() + checkpoint.encode()
    Ed25519PublicKey.from_public_bytes(public_key).verify(blob[12:], message)  # raises InvalidSignature
    return timestamp

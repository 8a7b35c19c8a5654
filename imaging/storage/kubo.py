"""Blob storage on an IPFS node through Kubo's HTTP RPC (pure module, no Django).

Why not ``ipfshttpclient``: its last release (0.7, 2021) checks the daemon version and
refuses any Kubo newer than 0.8.0, and it is unmaintained. The RPC needed here is five
POST endpoints, so this is a small ``httpx`` client over the documented API
(https://docs.ipfs.tech/reference/kubo/rpc/):

* ``POST /api/v0/add?cid-version=1&raw-leaves=true&pin=true&chunker=size-1048576``
  (multipart/form-data, part ``file``) -> JSON lines ``{"Name","Hash","Size"}``
* ``POST /api/v0/cat?arg=<cid>[&offline=true]`` -> the bytes (text/plain)
* ``POST /api/v0/pin/add?arg=<cid>`` / ``pin/rm?arg=<cid>`` -> ``{"Pins": [...]}``
* ``POST /api/v0/pin/ls?arg=<cid>&type=recursive`` -> ``{"Keys": {cid: {"Type"}}}``
* ``POST /api/v0/version`` -> ``{"Version", "Commit", "Repo", "System", "Golang"}``

Every RPC call is a POST (Kubo answers GET with 405). Errors come back as HTTP 500 with
``{"Message", "Code", "Type": "error"}``; 400/403/404/405 mean a malformed or refused call.
The same calls are served by IPFS Cluster's Kubo-compatible proxy (it intercepts ``add``
and the ``pin/*`` calls and applies them cluster-wide), so pointing ``api_url`` at the
proxy is how storage scales past one node.

Reliability: every call has a timeout; connection errors, timeouts and 5xx answers are
retried ``retries`` times with exponential backoff and jitter, then ``StorageUnavailable``
(so is an answer that cannot be parsed).
A 500 that states a permanent condition (block not found, not pinned) is not retried.

Content addressing and large blobs. For content that fits one block, Kubo's CID is
``cid_for(data)`` (CIDv1, raw, sha2-256) and ``put`` checks that the node returned exactly
that (``BlobCorrupted`` otherwise); ``get`` re-hashes what ``cat`` returns. Kubo chunks a
file into blocks of the ``chunker`` size (default 256 KiB; we ask for 1 MiB, the largest
block bitswap transfers) and for anything larger builds a UnixFS dag-pb tree whose root
CID (``bafybei...``) depends on Kubo's DAG layout rules, not only on the bytes. Rather than
re-implement that layout (which could not be checked against a real node here), a blob
larger than ``SINGLE_BLOCK_MAX`` is stored as Kubo's file plus a small *manifest* block::

    b"QMCM\\x01\\n" + JSON {"root": <kubo root CID>, "size": n, "sha256": <hex>}

added (single raw block, so its CID is verified like any small blob) and pinned; ``put``
returns the manifest's CID. ``get`` reads the manifest, ``cat``s the root and checks size
and SHA-256 of the whole content. Every CID handed out by this class is therefore a raw
sha2-256 CID whose bytes are verified on read, as for ``LocalCAS``; only for blobs
> 1 MiB it is the manifest's CID rather than ``cid_for(data)``. Small data that happens to
start with the manifest magic is always stored behind a manifest too, so there is no
ambiguity. ``delete`` unpins the manifest and the root; the node frees the blocks at its
next garbage collection (IPFS has no "delete" across nodes -- another reason only
ciphertext is ever stored).

Verification status: tested against a real node, js-ipfs 0.66.1 (the JavaScript
implementation, ``tests/imaging/storage/test_kubo_real.py``), and against
``tests/imaging/fake_kubo.py`` for faults (outages, corruption, wrong CIDs). On the real node:
``chunker=size-1048576`` with ``raw-leaves`` gives exactly ``cid_for(data)`` up to 1 MiB and a
dag-pb root above; CIDv1 may come back in base58btc (js-ipfs), so returned CIDs are re-encoded
in base32 before comparing; ``offline=true`` is ignored by js-ipfs, whose ``cat`` of a missing
block waits until the client's timeout (``StorageUnavailable``), so ``delete`` checks the pin
before reading; its "not pinned" errors match ``_NOT_PINNED``. Not run against Go Kubo or
IPFS Cluster's proxy: Kubo's "not found" messages (``_NOT_FOUND``) and the ``offline`` flag
are as documented, untested here.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from typing import Any

import httpx
from multiformats import CID

from .base import (
    BlobCorrupted,
    BlobNotFound,
    StorageError,
    StorageUnavailable,
    cid_for,
    validate_cid,
    verify,
)

__all__ = ["KuboRPC", "KuboError", "MANIFEST_MAGIC", "SINGLE_BLOCK_MAX"]

SINGLE_BLOCK_MAX = 1 << 20
MANIFEST_MAGIC = b"QMCM\x01\n"
_MANIFEST_MAX = 4096
# Kubo 500 messages that describe a permanent condition (not worth retrying).
_NOT_FOUND = ("not found", "could not find")
_NOT_PINNED = ("not pinned",)


class KuboError(StorageError):
    """The node rejected the call (4xx, or 500 with a permanent error)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class _Retryable(Exception):
    pass


class KuboRPC:
    name = "kubo"

    def __init__(
        self,
        api_url: str,
        *,
        timeout: float = 10,
        retries: int = 3,
        backoff: float = 0.25,
        max_backoff: float = 5.0,
        offline: bool = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """``api_url`` e.g. ``http://127.0.0.1:5001`` (``/api/v0`` is appended).

        ``retries`` is the number of retries after the first attempt. ``offline=True``
        makes ``cat`` answer from the node's own blockstore (fast "not found") instead of
        searching the network until the timeout; use ``False`` behind IPFS Cluster when
        the content may sit on another peer.
        """
        if retries < 0:
            raise ValueError("retries must be >= 0")
        self.api_url = api_url.rstrip("/")
        if self.api_url.endswith("/api/v0"):
            self.api_url = self.api_url[: -len("/api/v0")]
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.offline = offline
        self._client = httpx.Client(
            base_url=self.api_url + "/api/v0",
            timeout=httpx.Timeout(self.timeout),
            transport=transport,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"KuboRPC({self.api_url!r})"

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> KuboRPC:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ transport
    def _call(
        self,
        endpoint: str,
        params: dict[str, str] | None = None,
        *,
        files: Any = None,
        retries: int | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        attempts = 1 + (self.retries if retries is None else retries)
        last = "no attempt made"
        for attempt in range(attempts):
            if attempt:
                delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
                time.sleep(delay * (0.5 + random.random() / 2))  # nosec B311 (jitter)
            try:
                resp = self._client.post(
                    endpoint,
                    params=params,
                    files=files,
                    timeout=httpx.Timeout(timeout) if timeout is not None else httpx.USE_CLIENT_DEFAULT,
                )
            except (httpx.HTTPError, OSError) as exc:  # timeouts, refused, reset, a garbled answer
                last = f"{type(exc).__name__}: {exc}"
                continue
            if resp.status_code == 200:
                stream_error = resp.headers.get("X-Stream-Error")
                if stream_error:
                    last = f"stream error: {stream_error}"
                    continue
                return resp
            message = _error_message(resp)
            if resp.status_code == 500:
                low = message.lower()
                if any(s in low for s in _NOT_FOUND):
                    raise BlobNotFound(message)
                if any(s in low for s in _NOT_PINNED):
                    raise KuboError(message, 500)
                last = f"HTTP 500: {message}"
                continue
            if resp.status_code >= 500:
                last = f"HTTP {resp.status_code}: {message}"
                continue
            raise KuboError(f"{endpoint}: HTTP {resp.status_code}: {message}", resp.status_code)
        raise StorageUnavailable(f"IPFS RPC {endpoint} failed after {attempts} attempt(s): {last}")

    # ------------------------------------------------------------------ primitives
    def version(self) -> str:
        return str(_json(self._call("/version"), "version").get("Version", ""))

    def _add(self, data: bytes) -> str:
        resp = self._call(
            "/add",
            {
                "cid-version": "1",
                "raw-leaves": "true",
                "pin": "true",
                "chunker": f"size-{SINGLE_BLOCK_MAX}",
            },
            files={"file": ("blob", data, "application/octet-stream")},
        )
        hashes = []
        for line in resp.text.splitlines():
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except ValueError as exc:
                raise StorageUnavailable(f"add: unparseable response line {line[:100]!r}") from exc
            if isinstance(obj, dict) and obj.get("Hash"):
                hashes.append(_base32(str(obj["Hash"])))
        if not hashes:
            raise StorageUnavailable("add: the node returned no CID")
        return hashes[-1]

    def _cat(self, cid: str) -> bytes:
        params = {"arg": cid}
        if self.offline:
            params["offline"] = "true"
        return self._call("/cat", params).content

    def _unpin(self, cid: str) -> None:
        try:
            self._call("/pin/rm", {"arg": cid})
        except (KuboError, BlobNotFound):
            pass  # not pinned (any more): delete is idempotent

    # ------------------------------------------------------------------ BlobStore
    def put(self, data: bytes) -> str:
        data = bytes(data)
        if len(data) <= SINGLE_BLOCK_MAX and not data.startswith(MANIFEST_MAGIC):
            return self._put_block(data)
        root = self._add(data)
        try:
            CID.decode(root)
        except Exception as exc:
            raise BlobCorrupted(f"add returned an invalid CID {root[:100]!r}") from exc
        manifest = (
            MANIFEST_MAGIC
            + json.dumps(
                {"root": root, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()},
                sort_keys=True,
                separators=(",", ":"),
            ).encode()
        )
        return self._put_block(manifest)

    def _put_block(self, data: bytes) -> str:
        expected = cid_for(data)
        got = self._add(data)
        if got != expected:
            raise BlobCorrupted(f"node returned CID {got[:100]!r} for content whose CID is {expected}")
        return expected

    def get(self, cid: str) -> bytes:
        cid = validate_cid(cid)
        data = verify(cid, self._cat(cid))
        if not data.startswith(MANIFEST_MAGIC):
            return data
        root, size, sha = _parse_manifest(cid, data)
        content = self._cat(root)
        if len(content) != size or hashlib.sha256(content).hexdigest() != sha:
            raise BlobCorrupted(f"content behind manifest {cid} (root {root}) does not match its SHA-256")
        return content

    def exists(self, cid: str) -> bool:
        cid = validate_cid(cid)
        try:
            resp = self._call("/pin/ls", {"arg": cid, "type": "recursive"})
        except (KuboError, BlobNotFound):
            return False
        keys = _json(resp, "pin/ls").get("Keys") or {}
        return cid in {_base32(str(k)) for k in keys}

    def delete(self, cid: str) -> None:
        cid = validate_cid(cid)
        if not self.exists(cid):
            # Not pinned (never stored, or deleted before): nothing to unpin. Checked first
            # because ``cat`` of a block the node lacks does not fail fast on every node
            # (js-ipfs ignores ``offline`` and waits for the block until the timeout).
            return
        try:
            data = verify(cid, self._cat(cid))
        except (BlobNotFound, BlobCorrupted):
            data = b""
        if data.startswith(MANIFEST_MAGIC) and len(data) <= _MANIFEST_MAX:
            try:
                root, _, _ = _parse_manifest(cid, data)
                self._unpin(root)
            except BlobCorrupted:
                pass
        self._unpin(cid)

    def ping(self) -> bool:
        try:
            self._call("/version", retries=0, timeout=min(self.timeout, 3.0))
            return True
        except StorageError:
            return False


def _json(resp: httpx.Response, endpoint: str) -> dict:
    """The JSON object of a 200 answer; StorageUnavailable if the node sent something else."""
    try:
        body = resp.json()
    except ValueError as exc:
        raise StorageUnavailable(f"{endpoint}: the node's answer is not JSON") from exc
    if not isinstance(body, dict):
        raise StorageUnavailable(f"{endpoint}: the node's answer is not a JSON object")
    return body


def _base32(cid: str) -> str:
    """``cid`` re-encoded in base32 (Kubo's default for CIDv1); js-ipfs answers in base58btc."""
    try:
        return str(CID.decode(cid).set(base="base32"))
    except Exception:
        return cid  # not a CID: left as is, rejected by the caller's checks


def _error_message(resp: httpx.Response) -> str:
    try:
        body = resp.json()
        if isinstance(body, dict) and "Message" in body:
            return str(body["Message"])[:500]
    except ValueError:
        pass
    return resp.text[:500].strip() or resp.reason_phrase


def _parse_manifest(cid: str, data: bytes) -> tuple[str, int, str]:
    try:
        obj = json.loads(data[len(MANIFEST_MAGIC) :])
        root, size, sha = obj["root"], obj["size"], obj["sha256"]
        CID.decode(root)
        if not (isinstance(size, int) and size >= 0 and isinstance(sha, str) and len(sha) == 64):
            raise ValueError("bad fields")
        return str(root), size, sha
    except Exception as exc:
        raise BlobCorrupted(f"manifest block {cid} is malformed") from exc

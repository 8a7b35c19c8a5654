"""A small stand-in for a Kubo daemon's HTTP RPC, for tests (stdlib ``http.server``).

Written from the documented request/response shapes
(https://docs.ipfs.tech/reference/kubo/rpc/). It is *not* a real node (the real-node tests,
against js-ipfs, are in ``storage/test_kubo_real.py``); it stays for fault injection --
outages, corrupted content, wrong CIDs -- that a real node cannot be made to produce on
demand. What it does and does not imitate:

* ``POST /api/v0/add`` (multipart, part ``file``): honours ``pin`` and ``chunker=size-N``
  (default 262144, as Kubo). Content that fits one chunk gets the CID real Kubo gives with
  ``cid-version=1&raw-leaves=true``: CIDv1 raw sha2-256 (verified against the known CID of
  the empty file). Larger content would get a UnixFS dag-pb root in Kubo whose CID
  depends on the DAG layout; the fake returns a *made-up* dag-pb CID
  (``sha256(b"fake-unixfs:" + data)``), so tests must not (and the client does not)
  depend on the value of multi-block root CIDs. Answers one JSON line
  ``{"Name","Hash","Size"}``.
* ``POST /api/v0/cat?arg=``: the stored bytes, or 500 ``{"Message": "block was not found
  locally (offline): ipld: could not find <cid>", "Code": 0, "Type": "error"}`` (a real
  node without ``offline=true`` would instead search the network until a timeout).
* ``POST /api/v0/pin/add|pin/rm|pin/ls?arg=``: ``{"Pins": [cid]}`` / ``{"Keys": {cid:
  {"Type": "recursive"}}}``; pin/rm or pin/ls of an unpinned CID -> 500 "not pinned".
* ``POST /api/v0/version``: ``{"Version": "0.39.0-fake", ...}``.
* Any GET -> 405, unknown endpoint -> 404, like Kubo.

Fault injection for retry tests: ``fail_next(n, mode)`` with mode ``"500"`` (HTTP 500 JSON
error), ``"503"``, ``"drop"`` (close the connection without answering) or ``"hang"``
(sleep ``hang_seconds`` before answering); ``wrong_cid = True`` makes ``add`` report a wrong
CID; ``corrupt(cid)`` flips a byte of stored content.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from multiformats import CID, multihash

DEFAULT_CHUNK = 262144


def raw_cid(data: bytes) -> str:
    return str(CID("base32", 1, "raw", multihash.digest(data, "sha2-256")))


class FakeKubo:
    def __init__(self) -> None:
        self.blocks: dict[str, bytes] = {}
        self.pins: set[str] = set()
        self.requests: list[tuple[str, str]] = []  # (method, path)
        self.lock = threading.Lock()
        self._faults: list[str] = []
        self.wrong_cid = False
        self.hang_seconds = 2.0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # -- control
    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeKubo:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail_next(self, n: int, mode: str = "500") -> None:
        assert mode in {"500", "503", "drop", "hang"}
        with self.lock:
            self._faults.extend([mode] * n)

    def corrupt(self, cid: str) -> None:
        with self.lock:
            data = bytearray(self.blocks[cid])
            data[len(data) // 2] ^= 0x01
            self.blocks[cid] = bytes(data)

    def count(self, path: str) -> int:
        return sum(1 for _, p in self.requests if p == path)

    def _take_fault(self) -> str | None:
        with self.lock:
            return self._faults.pop(0) if self._faults else None

    # -- handler
    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args):  # keep test output quiet
                pass

            def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _json(self, obj, status: int = 200) -> None:
                self._send(status, (json.dumps(obj) + "\n").encode())

            def _error(self, message: str, status: int = 500, code: int = 0) -> None:
                self._json({"Message": message, "Code": code, "Type": "error"}, status)

            def do_GET(self):  # noqa: N802
                fake.requests.append(("GET", urlsplit(self.path).path))
                self._send(405, b"405 - Method Not Allowed\n", "text/plain")

            do_PUT = do_DELETE = do_GET  # noqa: N815

            def do_POST(self):  # noqa: N802
                url = urlsplit(self.path)
                fake.requests.append(("POST", url.path))
                q = parse_qs(url.query)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fault = fake._take_fault()
                if fault == "drop":
                    self.close_connection = True
                    return
                if fault == "hang":
                    time.sleep(fake.hang_seconds)
                elif fault == "500":
                    return self._error("injected failure: context deadline exceeded")
                elif fault == "503":
                    return self._send(503, b"Service Unavailable\n", "text/plain")
                route = {
                    "/api/v0/add": self.add,
                    "/api/v0/cat": self.cat,
                    "/api/v0/pin/add": self.pin_add,
                    "/api/v0/pin/rm": self.pin_rm,
                    "/api/v0/pin/ls": self.pin_ls,
                    "/api/v0/version": self.version,
                }.get(url.path)
                if route is None:
                    return self._send(404, b"404 page not found\n", "text/plain")
                try:
                    route(q, body)
                except BrokenPipeError:
                    pass

            def _arg(self, q) -> str | None:
                args = q.get("arg") or []
                if not args:
                    self._error('argument "ipfs-path" is required', 400, 1)
                    return None
                arg = args[0].removeprefix("/ipfs/")
                try:
                    CID.decode(arg)
                except Exception:
                    self._error(f"invalid path {args[0]!r}: invalid cid", 500)
                    return None
                return arg

            def add(self, q, body):
                ctype = self.headers.get("Content-Type", "")
                if not ctype.startswith("multipart/form-data"):
                    return self._error("request Content-Type isn't multipart/form-data", 400, 1)
                msg = BytesParser(policy=HTTP).parsebytes(
                    b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body
                )
                parts = [
                    p for p in msg.iter_parts() if p.get_param("name", header="content-disposition") == "file"
                ]
                if len(parts) != 1:
                    return self._error("expected exactly one file part", 400, 1)
                data = parts[0].get_payload(decode=True) or b""
                chunker = (q.get("chunker") or [f"size-{DEFAULT_CHUNK}"])[0]
                chunk = int(chunker.removeprefix("size-"))
                raw = (q.get("raw-leaves") or ["false"])[0] == "true" or (q.get("cid-version") or ["0"])[
                    0
                ] == "1"
                assert raw, "fake only implements cid-version=1 / raw leaves"
                if len(data) <= chunk:
                    cid = raw_cid(data)
                else:
                    cid = str(
                        CID("base32", 1, "dag-pb", multihash.digest(b"fake-unixfs:" + data, "sha2-256"))
                    )
                with fake.lock:
                    fake.blocks[cid] = data
                    if (q.get("pin") or ["true"])[0] == "true":
                        fake.pins.add(cid)
                reported = raw_cid(data + b"!") if fake.wrong_cid else cid
                name = parts[0].get_filename() or reported
                self._json({"Name": name, "Hash": reported, "Size": str(len(data))})

            def cat(self, q, _body):
                cid = self._arg(q)
                if cid is None:
                    return
                with fake.lock:
                    data = fake.blocks.get(cid)
                if data is None:
                    return self._error(f"block was not found locally (offline): ipld: could not find {cid}")
                self._send(200, data, "text/plain")

            def pin_add(self, q, _body):
                cid = self._arg(q)
                if cid is None:
                    return
                with fake.lock:
                    if cid not in fake.blocks:
                        return self._error(
                            f"block was not found locally (offline): ipld: could not find {cid}"
                        )
                    fake.pins.add(cid)
                self._json({"Pins": [cid]})

            def pin_rm(self, q, _body):
                cid = self._arg(q)
                if cid is None:
                    return
                with fake.lock:
                    if cid not in fake.pins:
                        return self._error("not pinned or pinned indirectly")
                    fake.pins.discard(cid)
                self._json({"Pins": [cid]})

            def pin_ls(self, q, _body):
                cid = self._arg(q)
                if cid is None:
                    return
                with fake.lock:
                    pinned = cid in fake.pins
                if not pinned:
                    return self._error(f"path '/ipfs/{cid}' is not pinned")
                self._json({"Keys": {cid: {"Type": "recursive"}}})

            def version(self, _q, _body):
                self._json(
                    {
                        "Version": "0.39.0-fake",
                        "Commit": "",
                        "Repo": "16",
                        "System": "amd64/linux",
                        "Golang": "go1.25",
                    }
                )

        return Handler


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

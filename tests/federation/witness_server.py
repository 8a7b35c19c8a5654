"""A second, independent tlog-witness over real HTTP for the push and quorum tests.

`federation.witness` behind `live_server` is this node's own witness (one set of witness keys
per database); a quorum needs more witnesses with keys of their own. This one is built from
the pure protocol library alone (`ledger.witness_protocol.check_request`, `note.signature_lines`)
on a threaded HTTP server at 127.0.0.1: it verifies the log's signature and the consistency
proof, keeps its state in memory and answers with its Ed25519 cosignature/v1 line. It can be
stopped and started again on the same port (a witness that is down, then back), and made to
lie (`forge=True`: its cosignature lines carry its name and key ID but a signature by a key
that is not its own).
"""

from __future__ import annotations

import base64
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ledger import note, witness_protocol


class WitnessServer:
    def __init__(self, name: str, log_verifiers: list[note.Verifier], *, forge: bool = False):
        self.name = name
        self.log_verifiers = log_verifiers
        self.forge = forge
        pk, sk = note.generate(note.ALG_COSIG_V1)
        self.signer = note.Signer(name, note.ALG_COSIG_V1, pk, sk)
        self.size, self.root = 0, None
        self.statuses: list[int] = []  # every answer's status, in order
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.port = 0
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def vkey(self) -> str:
        return self.signer.verifier().vkey

    def start(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _cosign(self, text: str) -> list[str]:
        ts = int(time.time())
        if self.forge:  # its name and key ID, another key's signature
            other = note.Signer(self.name, note.ALG_COSIG_V1, *note.generate(note.ALG_COSIG_V1))
            raw = struct.pack(">I", self.signer.verifier().key_id) + other.sign(text, timestamp=ts)
            return [f"\u2014 {self.name} {base64.b64encode(raw).decode()}\n"]
        return note.signature_lines(text, [self.signer], timestamp=ts)

    def answer(self, body: bytes) -> tuple[int, str, bytes]:
        try:
            req = witness_protocol.parse_add_checkpoint(body)
        except witness_protocol.ProtocolError as exc:
            return 400, "text/plain", str(exc).encode()
        with self._lock:
            try:
                cp = witness_protocol.check_request(
                    req, cosigned_size=self.size, cosigned_root=self.root, verifiers=self.log_verifiers
                )
            except witness_protocol.StaleOld as exc:
                return 409, witness_protocol.CONTENT_TYPE_SIZE, witness_protocol.format_size(exc.current_size)
            except witness_protocol.WitnessError as exc:
                return exc.status, "text/plain", str(exc).encode()
            self.size, self.root = cp.size, cp.root
        return 200, "text/plain; charset=utf-8", witness_protocol.format_cosignatures(self._cosign(req.text))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path != "/witness/add-checkpoint":
                    status, ctype, out = 404, "text/plain", b"not found"
                else:
                    status, ctype, out = server.answer(body)
                server.statuses.append(status)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args) -> None:
                pass

        return Handler

"""A peer node over real HTTP for the monitor and gossip tests: a `PeerLog` (keys and a Merkle
tree) served by a threaded HTTP server on 127.0.0.1, with the endpoints a monitor reads:
`/tlog/checkpoint`, `/api/v1/ledger/proof/consistency` (as ledger/api_views.py answers it)
and `/network/gossip/cosigned`. A test swaps the log (to fork it) or the answers."""

from __future__ import annotations

import base64
import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from federation.gossip import FORMAT
from ledger import merkle
from tests.federation.peer_log import PeerLog


class PeerServer:
    def __init__(self, log: PeerLog | None = None):
        self.log = log
        self.checkpoint_text: str | None = None  # served instead of the log's own checkpoint
        self.proof_status: int | None = None  # answer proof requests with this status instead
        self.gossip: list[str] = []  # signed notes in the gossip list
        self.requests: Counter[str] = Counter()  # path -> how many times it was asked
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> PeerServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, str, bytes]:
        if path == "/tlog/checkpoint":
            if self.checkpoint_text is None and self.log is None:
                return 404, "text/plain", b"no checkpoint\n"
            text = self.checkpoint_text if self.checkpoint_text is not None else self.log.checkpoint()
            return 200, "text/plain; charset=utf-8", text.encode()
        if path == "/api/v1/ledger/proof/consistency":
            if self.proof_status is not None:
                return self.proof_status, "application/json", b'{"detail": "unavailable"}'
            first, second = int(query["first"][0]), int(query["second"][0])
            if not 0 <= first <= second or second > self.log.size:
                return 400, "application/json", b'{"detail": "second is beyond the tree size"}'
            proof = merkle.consistency_proof(self.log.leaves, first, second) if 0 < first < second else []
            b64 = base64.b64encode
            body = {
                "first": first,
                "second": second,
                "first_root": b64(self.log.root(first)).decode(),
                "second_root": b64(self.log.root(second)).decode(),
                "proof": [b64(h).decode() for h in proof],
            }
            return 200, "application/json", json.dumps(body).encode()
        if path == "/network/gossip/cosigned":
            items = [{"origin": "", "tree_size": 0, "checkpoint": n} for n in self.gossip]
            body = {"format": FORMAT, "witness": "peer/witness", "checkpoints": items}
            return 200, "application/json", json.dumps(body).encode()
        return 404, "text/plain", b"not found\n"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                parts = urlsplit(self.path)
                server.requests[parts.path] += 1
                status, ctype, body = server._answer(parts.path, parse_qs(parts.query))
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        return Handler

"""Node A's node API over real HTTP for the clinician-side tests (federation/remote.py): a
threaded HTTP server on 127.0.0.1 that answers each path with what the test put in `routes`
(built beforehand from the test database: the server thread reads no database), records the
headers of every request, and can misbehave the ways a peer does: cut a response off halfway
(`cut`: path -> how many answers to cut), or be down altogether (`stop`)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


class FakeNodeA:
    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, str, bytes]] = {}
        self.cut: Counter[str] = Counter()  # path -> answers still to cut off halfway
        self.requests: list[tuple[str, dict[str, str]]] = []  # (path, headers) of each request
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def json(self, path: str, body: Any, status: int = 200) -> None:
        ctype = "application/json" if status < 400 else "application/problem+json"
        self.routes[path] = (status, ctype, json.dumps(body).encode())

    def bytes(self, path: str, body: bytes) -> None:
        self.routes[path] = (200, "application/octet-stream", body)

    def asked(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                path = urlsplit(self.path).path
                server.requests.append((path, {k.lower(): v for k, v in self.headers.items()}))
                status, ctype, body = server.routes.get(path, (404, "application/problem+json", b"{}"))
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.cut[path] > 0:  # the peer goes away mid-transfer
                    server.cut[path] -= 1
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

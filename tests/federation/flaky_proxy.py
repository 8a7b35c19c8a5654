"""A reverse proxy in front of a real node, for the three-node tests: it listens on the node's
own address (its public base URL, which signed node requests name) and relays every request,
headers and body unchanged, to the node's web server moved to another port. It can cut the
answers to some paths off halfway (`cut`: path prefix -> how many), as a node that goes down
mid-transfer does."""

from __future__ import annotations

import http.client
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# not relayed: hop-by-hop, or written again by send_response / below
NOT_RELAYED = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "proxy-connection",
    "date",
    "server",
}


class FlakyProxy:
    def __init__(self, port: int, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.cut: Counter[str] = Counter()
        self.relayed: Counter[str] = Counter()  # path prefix of `cut` -> answers sent whole
        self.cuts_done: Counter[str] = Counter()
        self._lock = threading.Lock()
        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _should_cut(self, path: str) -> str | None:
        with self._lock:
            for prefix, left in self.cut.items():
                if path.startswith(prefix) and left > 0:
                    self.cut[prefix] -= 1
                    self.cuts_done[prefix] += 1
                    return prefix
            for prefix in self.cut:
                if path.startswith(prefix):
                    self.relayed[prefix] += 1
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection: the node's client reconnects

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                upstream = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=30)
                try:
                    upstream.request(self.command, self.path, body=body, headers=dict(self.headers.items()))
                    answer = upstream.getresponse()
                    data = answer.read()
                    headers = [(k, v) for k, v in answer.getheaders() if k.lower() not in NOT_RELAYED]
                    status = answer.status
                finally:
                    upstream.close()
                cut = proxy._should_cut(self.path)
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2] if cut else data)
                self.wfile.flush()

            do_GET = do_POST = _relay  # noqa: N815 - http.server's names

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

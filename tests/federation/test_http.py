"""Outbound HTTP to peers: answers of any status come back, redirects are not followed, and
every way a peer fails to answer (refused, silent, oversized, not http) is PeerUnreachable."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from federation import http


class _Server:
    """A real HTTP server at 127.0.0.1 that answers every request with `answer(handler)`."""

    def __init__(self, answer):
        self.seen: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                outer.seen.append({**dict(self.headers), "_body": self.rfile.read(length).decode()})
                answer(self)

            do_GET = do_POST = _any

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _reply(status: int, body: bytes, **headers: str):
    def answer(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        for k, v in {"Content-Length": str(len(body)), **headers}.items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(body)

    return answer


@pytest.fixture
def serve():
    servers: list[_Server] = []

    def make(answer) -> _Server:
        servers.append(_Server(answer))
        return servers[-1]

    yield make
    http.close()
    for s in servers:
        s.close()


def test_post_sends_the_body_and_our_user_agent_and_returns_any_status(serve, settings):
    settings.LEDGER_ORIGIN = "hospital-a.test/ledger"
    s = serve(_reply(409, b"12\n", **{"Content-Type": "text/x.tlog.size"}))
    r = http.post(s.url + "/witness/add-checkpoint", b"old 3\n", "text/plain; charset=utf-8")
    assert (r.status, r.body, r.content_type, r.text) == (409, b"12\n", "text/x.tlog.size", "12\n")
    assert s.seen[0]["User-Agent"] == "qmedchain-node/hospital-a.test/ledger"
    assert s.seen[0]["_body"] == "old 3\n" and s.seen[0]["Content-Type"] == "text/plain; charset=utf-8"


def test_redirects_are_returned_not_followed(serve):
    target = serve(_reply(200, b"followed"))
    s = serve(_reply(302, b"", Location=target.url + "/elsewhere"))
    r = http.get(s.url + "/tlog/checkpoint")
    assert r.status == 302 and r.headers["location"].endswith("/elsewhere")
    assert target.seen == []


def test_a_refused_connection_is_peer_unreachable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(http.PeerUnreachable, match="refused"):
        http.get(f"http://127.0.0.1:{port}/tlog/checkpoint")


def test_a_silent_peer_times_out(serve, settings):
    settings.FEDERATION_HTTP_TIMEOUT = 0.5
    s = serve(lambda h: time.sleep(3))
    started = time.monotonic()
    with pytest.raises(http.PeerUnreachable, match="did not answer within 0.5 s"):
        http.get(s.url + "/tlog/checkpoint")
    assert time.monotonic() - started < 2.5


@pytest.mark.parametrize("declared", [True, False])
def test_an_answer_over_1_mib_is_refused(serve, declared):
    big = b"x" * (http.MAX_RESPONSE_BYTES + 1)

    def answer(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        if declared:
            h.send_header("Content-Length", str(len(big)))
        h.send_header("Connection", "close")
        h.end_headers()
        try:
            h.wfile.write(big)
        except OSError:  # the client hung up, as it should
            pass

    s = serve(answer)
    with pytest.raises(http.PeerUnreachable, match="more than 1048576 bytes"):
        http.get(s.url + "/tlog/tile/entries/000")
    ok = serve(_reply(200, b"y" * http.MAX_RESPONSE_BYTES))
    assert len(http.get(ok.url).body) == http.MAX_RESPONSE_BYTES


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://peer.test/x", "http:///nohost", "peer.test/x"])
def test_only_http_urls_are_fetched(url):
    with pytest.raises(http.PeerUnreachable, match="not an http"):
        http.get(url)

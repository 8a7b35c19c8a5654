"""Outbound HTTP to peers: a timeout on the whole exchange, no redirects followed, at most
1 MiB of response read, and one error (`PeerUnreachable`) for every way a peer can fail to
answer. Answers of any status come back as a `Response`; callers judge them."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests
from django.conf import settings

MAX_RESPONSE_BYTES = 1 << 20


class PeerUnreachable(Exception):
    """No usable answer: connection refused or reset, DNS failure, timeout, an oversized or
    truncated response, or a URL we do not send requests to."""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower case ("" when absent)."""
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


_local = threading.local()


def _session() -> requests.Session:
    s = getattr(_local, "session", None)
    if s is None:  # one per thread: keep-alive to the peers (tlog-witness asks for it)
        s = requests.Session()
        _local.session = s
    return s


def close() -> None:
    """Drop this thread's kept-alive connections (a test's live server then ends its threads)."""
    s = getattr(_local, "session", None)
    if s is not None:
        s.close()
        _local.session = None


def timeout() -> float:
    return float(getattr(settings, "FEDERATION_HTTP_TIMEOUT", 5.0))


def user_agent() -> str:
    return f"qmedchain-node/{settings.LEDGER_ORIGIN}"


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PeerUnreachable(f"not an http(s) URL: {url[:200]!r}")


def request(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    max_bytes: int = MAX_RESPONSE_BYTES,
) -> Response:
    _check_url(url)
    limit = timeout()
    deadline = time.monotonic() + limit
    hdrs = {"User-Agent": user_agent(), **(headers or {})}
    try:
        with _session().request(
            method,
            url,
            data=body,
            headers=hdrs,
            timeout=(limit, limit),
            allow_redirects=False,
            stream=True,
        ) as r:
            declared = r.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise PeerUnreachable(f"{url} answered more than {max_bytes} bytes")
            chunks, size = [], 0
            for chunk in r.iter_content(chunk_size=65536):
                size += len(chunk)
                if size > max_bytes:
                    raise PeerUnreachable(f"{url} answered more than {max_bytes} bytes")
                if time.monotonic() > deadline:  # a peer that drips bytes must not hold us
                    raise PeerUnreachable(f"{url} did not answer within {limit:g} s")
                chunks.append(chunk)
            return Response(
                status=r.status_code,
                body=b"".join(chunks),
                headers={k.lower(): v for k, v in r.headers.items()},
            )
    except requests.Timeout:
        raise PeerUnreachable(f"{url} did not answer within {limit:g} s") from None
    except requests.ConnectionError as exc:
        raise PeerUnreachable(f"{url} is unreachable ({_reason(exc)})") from None
    except requests.RequestException as exc:
        raise PeerUnreachable(f"{url}: {type(exc).__name__}") from None


def _reason(exc: Exception) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "Connection reset", "timed out"):
        if marker in text:
            return marker.lower()
    return type(exc).__name__


def get(url: str, *, headers: dict[str, str] | None = None, max_bytes: int = MAX_RESPONSE_BYTES) -> Response:
    """`max_bytes`: a larger bound for a caller that knows the size to expect (a scan object)."""
    return request("GET", url, headers=headers, max_bytes=max_bytes)


def post(url: str, body: bytes, content_type: str, *, headers: dict[str, str] | None = None) -> Response:
    return request("POST", url, body=body, headers={"Content-Type": content_type, **(headers or {})})

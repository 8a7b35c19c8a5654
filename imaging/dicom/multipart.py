"""multipart/related bodies (RFC 2387, RFC 2046 5.1) for STOW-RS requests and WADO-RS
responses (pure module, no Django)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

MAX_PARTS = 10_000
MAX_HEADER_BYTES = 8 * 1024
_TOKEN = re.compile(r'\s*([^=;\s]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)\s*')


class MultipartError(ValueError):
    """The body is not a well-formed multipart/related message; the message says why."""


@dataclass(frozen=True)
class Part:
    content: bytes
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case

    @property
    def media_type(self) -> str:
        return media_type_params(self.headers.get("content-type", ""))[0]


def media_type_params(value: str) -> tuple[str, dict[str, str]]:
    """('multipart/related', {'type': 'application/dicom', 'boundary': 'x'}) of a Content-Type
    or Accept item; names and the media type in lower case, quotes removed."""
    head, _, rest = value.partition(";")
    params: dict[str, str] = {}
    for piece in _split_params(rest):
        match = _TOKEN.fullmatch(piece)
        if match:
            raw = match.group(2).strip()
            if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
                raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
            params[match.group(1).lower()] = raw
    return head.strip().lower(), params


def _split_params(text: str) -> list[str]:
    """Split on ';' outside quotes."""
    out, current, quoted, escaped = [], [], False, False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\" and quoted:
            current.append(ch)
            escaped = True
        elif ch == '"':
            current.append(ch)
            quoted = not quoted
        elif ch == ";" and not quoted:
            out.append("".join(current))
            current = []
        else:
            current.append(ch)
    if "".join(current).strip():
        out.append("".join(current))
    return [piece for piece in out if piece.strip()]


def _headers(raw: bytes) -> dict[str, str]:
    if len(raw) > MAX_HEADER_BYTES:
        raise MultipartError("A part's headers are too long.")
    headers: dict[str, str] = {}
    for line in raw.decode("latin-1").split("\r\n"):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise MultipartError("A part has a malformed header line.")
        headers[name.strip().lower()] = value.strip()
    return headers


def split(body: bytes, boundary: str) -> list[Part]:
    """The parts of a multipart body. MultipartError when the boundary never appears, a part is
    not closed, or there are more than MAX_PARTS parts."""
    if not boundary or len(boundary) > 70:
        raise MultipartError("The multipart boundary is missing or longer than 70 characters.")
    delimiter = b"--" + boundary.encode("latin-1")
    if body.startswith(delimiter):
        pos = 0
    else:
        pos = body.find(b"\r\n" + delimiter)
        if pos < 0:
            raise MultipartError("The body does not contain its multipart boundary.")
        pos += 2
    parts: list[Part] = []
    while True:
        pos += len(delimiter)
        if body[pos : pos + 2] == b"--":
            return parts
        eol = body.find(b"\r\n", pos)
        if eol < 0 or body[pos:eol].strip(b" \t"):
            raise MultipartError("A multipart boundary line is malformed.")
        start = eol + 2
        end = body.find(b"\r\n" + delimiter, start)
        if end < 0:
            raise MultipartError("The multipart body ends before its closing boundary.")
        if len(parts) >= MAX_PARTS:
            raise MultipartError(f"The body has more than {MAX_PARTS} parts.")
        if body.startswith(b"\r\n", start):  # no headers
            parts.append(Part(content=body[start + 2 : end]))
        else:
            split_at = body.find(b"\r\n\r\n", start, end)
            if split_at < 0:
                raise MultipartError("A part's headers are not followed by an empty line.")
            parts.append(Part(content=body[split_at + 4 : end], headers=_headers(body[start:split_at])))
        pos = end + 2


def new_boundary() -> str:
    return "qmc-" + secrets.token_hex(16)


def part_head(boundary: str, content_type: str, extra: dict[str, str] | None = None) -> bytes:
    """The delimiter and headers that open a part (each part's content follows it)."""
    lines = [f"--{boundary}", f"Content-Type: {content_type}"]
    lines += [f"{name}: {value}" for name, value in (extra or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def part_separator() -> bytes:
    """What ends a part's content before the next delimiter or the closing one."""
    return b"\r\n"


def closing(boundary: str) -> bytes:
    return f"--{boundary}--\r\n".encode("latin-1")


def encode(parts: list[tuple[str, bytes]], boundary: str) -> bytes:
    """A whole multipart body from (content type, content) pairs."""
    out = bytearray()
    for content_type, content in parts:
        out += part_head(boundary, content_type) + content + part_separator()
    out += closing(boundary)
    return bytes(out)

"""Upload file names are checked as the client sent them (settings.FILE_UPLOAD_HANDLERS).

Django's MultiPartParser shortens a part's file name (``../../etc/passwd.png`` becomes
``passwd.png``, control characters are dropped) before any upload handler or view sees it, so
a hostile name could not be refused afterwards. `RawFileNameCheck` is the first upload
handler: it takes over the parsing with a parser whose ``sanitize_file_name`` first checks the
raw name and stops the whole request with `UnsafeFileName` (a 400, nothing stored) when it is
not a plain file name. Used for every multipart request, web forms and the API alike.
"""

from __future__ import annotations

import html
import re
import unicodedata

from django.core.files.uploadhandler import FileUploadHandler
from django.http.multipartparser import MultiPartParser, MultiPartParserError

MAX_NAME_BYTES = 255  # the longest file name of common file systems
_SHOWN_CHARS = 80
_DRIVE = re.compile(r"[A-Za-z]:")


class UnsafeFileName(MultiPartParserError):
    """The upload's file name is refused. ``str()`` is safe to log (no name in it);
    ``user_message`` shows the name, escaped, to the person who sent it."""

    def __init__(self, reason: str, name: str) -> None:
        super().__init__(f"The file name is not allowed: {reason}.")
        self.reason = reason
        self.user_message = (
            f"The file name “{shown(name)}” is not allowed: {reason}. Rename the file and try again."
        )


def _invisible(char: str) -> bool:
    # Cc: C0/C1 controls and DEL; Cf: format characters, among them the bidi overrides
    # (U+202A-U+202E, U+2066-U+2069) that make "gnp.exe" display as "exe.png"
    return unicodedata.category(char) in {"Cc", "Cf", "Zl", "Zp"}


def shown(name: str) -> str:
    """`name` fit to show: invisible characters written as escapes, and cut short."""
    out = "".join(f"\\u{ord(c):04x}" if _invisible(c) else c for c in name)
    return out if len(out) <= _SHOWN_CHARS else out[: _SHOWN_CHARS - 1] + "…"


def file_name_problem(name: str) -> str | None:
    """Why `name` is not acceptable as an upload's file name, or None."""
    if any(_invisible(c) for c in name):
        return "it contains control or invisible formatting characters"
    if "/" in name or "\\" in name:
        return "it contains a path separator (/ or \\)"
    if ".." in name or name.strip() in {"", "."}:
        return "it is, or contains, a relative path (“..”)"
    if _DRIVE.match(name):
        return "it starts with a drive letter"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return f"it is longer than {MAX_NAME_BYTES} bytes"
    return None


class _CheckingParser(MultiPartParser):
    def sanitize_file_name(self, file_name):
        # checked before and after Django's HTML unescaping ("&#10;" is a line feed to it)
        for candidate in (file_name, html.unescape(file_name)):
            if (reason := file_name_problem(candidate)) is not None:
                raise UnsafeFileName(reason, candidate)
        return super().sanitize_file_name(file_name)


class RawFileNameCheck(FileUploadHandler):
    """First upload handler: parses the body itself (with the remaining handlers receiving the
    files as usual) so that each file name is checked before Django shortens it."""

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        others = [h for h in self.request.upload_handlers if h is not self]
        return _CheckingParser(META, input_data, others, encoding).parse()

    def receive_data_chunk(self, raw_data, start):
        return raw_data

    def file_complete(self, file_size):
        return None

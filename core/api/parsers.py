"""Request-body parsers of the API: JSON with bounded nesting and finite numbers.

DRF's JSONParser hands the body to ``json.load``, whose C scanner recurses once per nesting
level: a 50,000-deep array ends in RecursionError, which DRF does not catch (a 500). The
nesting depth is therefore measured before parsing, on the body with its string literals
removed (brackets inside strings do not nest), and anything deeper than ``MAX_DEPTH`` is
refused. Numbers that overflow to infinity (``1e999999``) are refused as well: they could not
be stored or written back as JSON. The size of the body is bounded before any parser runs by
Django's DATA_UPLOAD_MAX_MEMORY_SIZE (DRF reads JSON and form bodies through ``request.body``).
"""

from __future__ import annotations

import codecs
import math
import re

import numpy as np
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils import json

from core.uploads import UnsafeFileName

# deeper than any request body of this API needs (consents nest 3 levels)
MAX_DEPTH = 32

# a JSON string literal, unrolled so that it runs in linear time
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]")
_OPEN = (ord("["), ord("{"))


def nesting_depth(body: bytes) -> int:
    """The deepest bracket nesting of `body` outside string literals (an upper bound for
    malformed JSON, exact for well-formed JSON), computed without recursion."""
    brackets = _NOT_BRACKET.sub(b"", _STRING.sub(b"", body))
    if not brackets:
        return 0
    codes = np.frombuffer(brackets, dtype=np.uint8)
    steps = np.where((codes == _OPEN[0]) | (codes == _OPEN[1]), np.int32(1), np.int32(-1))
    return int(np.cumsum(steps, dtype=np.int32).max())


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:20]}{'…' if len(text) > 20 else ''} is out of range")
    return value


class BoundedJSONParser(parsers.JSONParser):
    """JSONParser that refuses bodies nested deeper than MAX_DEPTH and non-finite numbers with
    a 400 (problem+json through core.api.errors) instead of failing with a 500."""

    max_depth = MAX_DEPTH

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        body = stream.read() if stream is not None else b""
        try:
            text = codecs.decode(body, encoding)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {_describe(exc)}") from None
        # measured on UTF-8, where a bracket is always its own byte (not in UTF-16, say)
        utf8 = body if codecs.lookup(encoding).name == "utf-8" else text.encode("utf-8", "surrogatepass")
        if nesting_depth(utf8) > self.max_depth:
            raise ParseError(f"JSON parse error - the body is nested more than {self.max_depth} levels deep.")
        try:
            parse_constant = json.strict_constant if self.strict else None
            return json.loads(text, parse_constant=parse_constant, parse_float=_finite_float)
        except RecursionError:  # not reached below MAX_DEPTH; kept so no body can become a 500
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
        except ValueError as exc:  # includes UnicodeDecodeError and over-long integers
            raise ParseError(f"JSON parse error - {_describe(exc)}") from None


def _describe(exc: ValueError) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"the body is not valid {exc.encoding} text (byte {exc.start})."
    return str(exc)[:200]


class MultiPartParser(parsers.MultiPartParser):
    """DRF's multipart parser, with a refused file name (core.uploads) told to the client."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except ParseError as exc:
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, UnsafeFileName):
                raise ParseError(cause.user_message) from None
            raise

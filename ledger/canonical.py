"""Canonical JSON in the style of RFC 8785 (JCS), no Django.

- object members sorted by their keys compared as UTF-16 code units;
- no insignificant whitespace; strings as UTF-8 with only the escapes JSON requires
  (quote, backslash, and control characters: \\b \\t \\n \\f \\r, the rest as \\u00xx);
- numbers in the ECMAScript shortest round-trip form (integers without a fraction,
  exponent form only below 1e-6 or from 1e21); NaN and infinities are rejected;
- integers outside +/-(2**53 - 1) are rejected (they do not survive I-JSON parsers).
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_SAFE_INT = 2**53 - 1


class CanonicalError(ValueError):
    pass


def _utf16_key(s: str) -> bytes:
    return s.encode("utf-16-be")


def _number(x: int | float) -> str:
    if isinstance(x, bool):
        raise CanonicalError("booleans are not numbers")
    if isinstance(x, int):
        if abs(x) > MAX_SAFE_INT:
            raise CanonicalError(f"integer {x} is outside the I-JSON safe range")
        return str(x)
    if not math.isfinite(x):
        raise CanonicalError("NaN and infinities have no JSON form")
    if x == 0:
        return "0"
    if x.is_integer() and abs(x) < 1e21:
        return str(int(x))
    r = repr(x)  # shortest round-trip digits
    if "e" in r or "E" in r:
        mant, exp = r.lower().split("e")
        e = int(exp)
        digits = mant.replace(".", "").replace("-", "").lstrip("0")
        neg = x < 0
        # position of the decimal point after the first digit
        point = (mant.replace("-", "").find(".") if "." in mant else len(mant.replace("-", ""))) + e
        if -6 < point <= 21:
            if point <= 0:
                s = "0." + "0" * (-point) + digits
            elif point >= len(digits):
                s = digits + "0" * (point - len(digits))
            else:
                s = digits[:point] + "." + digits[point:]
        else:
            s = (
                digits[0]
                + ("." + digits[1:] if len(digits) > 1 else "")
                + "e"
                + ("+" if point - 1 > 0 else "-")
                + str(abs(point - 1))
            )
        return ("-" if neg else "") + s
    return r


def _encode(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, int | float):
        out.append(_number(value))
    elif isinstance(value, dict):
        for k in value:
            if not isinstance(k, str):
                raise CanonicalError("object keys must be strings")
        out.append("{")
        first = True
        for k in sorted(value, key=_utf16_key):
            if not first:
                out.append(",")
            first = False
            out.append(json.dumps(k, ensure_ascii=False))
            out.append(":")
            _encode(value[k], out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:
        raise CanonicalError(f"{type(value).__name__} has no canonical JSON form")


def _plain(value: Any) -> bool:
    """True when `json.dumps` (sorted keys, no spaces, UTF-8) is already the canonical form:
    only strings, safe integers, booleans, null, arrays, and objects with ASCII keys (whose
    code-point order is their UTF-16 order). Floats and anything else take `_encode`."""
    stack = [value]
    while stack:
        v = stack.pop()
        t = type(v)
        if t is str or t is bool or v is None:
            continue
        if t is int:
            if -MAX_SAFE_INT <= v <= MAX_SAFE_INT:
                continue
            return False
        if t is dict:
            for k in v:
                if type(k) is not str or not k.isascii():
                    return False
            stack.extend(v.values())
        elif t is list or t is tuple:
            stack.extend(v)
        else:
            return False
    return True


def dumps(value: Any) -> str:
    # the ledger's payloads and openings are plain: the C encoder writes them (issue #27)
    if _plain(value):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    out: list[str] = []
    _encode(value, out)
    return "".join(out)


def canonical_bytes(value: Any) -> bytes:
    """Canonical JSON of `value` as UTF-8 bytes."""
    return dumps(value).encode("utf-8")


def is_canonical(data: bytes) -> bool:
    try:
        return canonical_bytes(json.loads(data)) == data
    except (ValueError, CanonicalError):
        return False

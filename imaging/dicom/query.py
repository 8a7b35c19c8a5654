"""QIDO-RS query parameters (PS3.18 8.3.4, 10.6), parsed and checked (pure module, no Django).

`parse(level, params)` turns the query string of a search into a `Query`, or raises
`QueryError` (a 400 for the client) naming the parameter at fault. Matching keys are given by
keyword (``StudyDate``) or by tag (``00080020``). Supported:

=====================  ==========  =====================================================
key                    level       matching
=====================  ==========  =====================================================
StudyInstanceUID       study       UID list (comma or backslash separated)
StudyDate              study       single date ``YYYYMMDD`` or range ``A-B``, ``-B``, ``A-``
AccessionNumber        study       exact (compared as a keyed hash: the number is not stored)
ModalitiesInStudy      study       exact, case-insensitive (studies only)
SeriesInstanceUID      series      UID list
Modality               series      exact, case-insensitive (on studies: as ModalitiesInStudy)
SeriesNumber           series      exact integer
SOPInstanceUID         instance    UID list
SOPClassUID            instance    UID list
InstanceNumber         instance    exact integer
=====================  ==========  =====================================================

A search may use keys of its own level and the levels above it. An empty value (or a lone
``*``) is universal matching. Other wildcards, patient attributes (no patient identifier is
kept in clear) and any other attribute are refused. ``includefield`` (repeatable, comma
separated, or ``all``), ``limit``, ``offset`` and ``fuzzymatching`` (``true``/``false``; there
is no person-name matching for it to change) are accepted; ``purpose`` is the portal's purpose
of use, read elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from imaging.dicom.identity import is_uid

LEVELS = ("study", "series", "instance")
UID_KEYS = {"StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID"}
MATCH_LEVEL = {
    "StudyInstanceUID": "study",
    "StudyDate": "study",
    "AccessionNumber": "study",
    "ModalitiesInStudy": "study",
    "SeriesInstanceUID": "series",
    "Modality": "series",
    "SeriesNumber": "series",
    "SOPInstanceUID": "instance",
    "SOPClassUID": "instance",
    "InstanceNumber": "instance",
}
CONTROL = {"includefield", "limit", "offset", "fuzzymatching", "purpose"}
_TAG = re.compile(r"[0-9A-Fa-f]{8}")
_DATE = re.compile(r"\d{8}")
_CS = re.compile(r"[A-Z0-9 _]{1,16}")
MAX_UIDS = 1000


class QueryError(ValueError):
    """The query cannot be run; the message says which parameter and why."""


@dataclass(frozen=True)
class DateRange:
    start: date | None
    end: date | None

    def contains(self, day: date | None) -> bool:
        if day is None:
            return False
        return (self.start is None or day >= self.start) and (self.end is None or day <= self.end)


@dataclass(frozen=True)
class Query:
    level: str
    match: dict[str, Any] = field(default_factory=dict)  # keyword -> frozenset / DateRange / str / int
    include: frozenset[str] = frozenset()
    include_all: bool = False
    limit: int | None = None
    offset: int = 0
    fuzzy: bool = False


def keyword_of(name: str) -> str | None:
    """The DICOM keyword `name` stands for (a keyword or an 8-digit tag), or None."""
    from pydicom.datadict import dictionary_keyword, keyword_for_tag, tag_for_keyword

    if _TAG.fullmatch(name):
        try:
            return dictionary_keyword(int(name, 16)) or None
        except KeyError:
            return keyword_for_tag(int(name, 16)) or None
    return name if tag_for_keyword(name) is not None else None


def parse_date(text: str) -> date:
    if not _DATE.fullmatch(text):
        raise QueryError(f"'{text[:20]}' is not a date of the form YYYYMMDD.")
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        raise QueryError(f"'{text}' is not a calendar date.") from None


def parse_date_range(text: str) -> DateRange:
    """``YYYYMMDD``, ``YYYYMMDD-YYYYMMDD``, ``-YYYYMMDD`` or ``YYYYMMDD-`` (PS3.4 C.2.2.2.5)."""
    text = text.strip()
    if text.count("-") > 1:
        raise QueryError("StudyDate: a range is two dates joined by one '-' (YYYYMMDD-YYYYMMDD).")
    if "-" not in text:
        day = parse_date(text)
        return DateRange(day, day)
    lo, hi = text.split("-")
    if not lo and not hi:
        raise QueryError("StudyDate: a range needs at least one date (YYYYMMDD-YYYYMMDD).")
    start = parse_date(lo) if lo else None
    end = parse_date(hi) if hi else None
    if start and end and start > end:
        raise QueryError("StudyDate: the range starts after it ends.")
    return DateRange(start, end)


def _uids(keyword: str, text: str) -> frozenset[str]:
    values = [v.strip() for v in re.split(r"[,\\]", text) if v.strip()]
    if len(values) > MAX_UIDS:
        raise QueryError(f"{keyword}: at most {MAX_UIDS} UIDs in one list.")
    for value in values:
        if not is_uid(value):
            raise QueryError(f"{keyword}: '{value[:70]}' is not a valid UID (wildcards are not allowed).")
    return frozenset(values)


def _value(keyword: str, text: str) -> Any:
    if keyword in UID_KEYS:
        return _uids(keyword, text)
    if "*" in text or "?" in text:
        raise QueryError(f"{keyword}: wildcard matching is not supported; give the exact value.")
    if keyword == "StudyDate":
        return parse_date_range(text)
    if keyword in ("SeriesNumber", "InstanceNumber"):
        try:
            return int(text.strip())
        except ValueError:
            raise QueryError(f"{keyword}: '{text[:20]}' is not an integer.") from None
    if keyword in ("Modality", "ModalitiesInStudy"):
        value = text.strip().upper()
        if not _CS.fullmatch(value):
            raise QueryError(f"{keyword}: '{text[:20]}' is not a modality code (e.g. CT, MR, CR).")
        return value
    value = text.strip()  # AccessionNumber
    if len(value) > 16:
        raise QueryError(f"{keyword}: at most 16 characters.")
    return value


def _allowed(level: str, keyword: str) -> bool:
    key_level = MATCH_LEVEL[keyword]
    if keyword == "ModalitiesInStudy":
        return level == "study"
    if keyword == "Modality" and level == "study":
        return True  # matched as ModalitiesInStudy
    return LEVELS.index(key_level) <= LEVELS.index(level)


def _int_param(name: str, text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise QueryError(f"{name}: '{text[:20]}' is not an integer.") from None
    if value < minimum:
        raise QueryError(f"{name} must be at least {minimum}.")
    return value


def parse(level: str, params: Iterable[tuple[str, list[str]]]) -> Query:
    """The `Query` of a search at `level` from (name, values) pairs, e.g. Django's
    ``QueryDict.lists()``. QueryError on an unknown attribute, a key not supported at this
    level, a malformed value, or a key given twice."""
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}")
    match: dict[str, Any] = {}
    include: set[str] = set()
    include_all = fuzzy = False
    limit: int | None = None
    offset = 0
    for name, values in params:
        if name == "purpose":
            continue
        if name == "includefield":
            for item in (v.strip() for value in values for v in value.split(",")):
                if not item:
                    continue
                if item == "all":
                    include_all = True
                    continue
                keyword = keyword_of(item)
                if keyword is None:
                    raise QueryError(f"includefield: '{item[:40]}' is not a DICOM attribute.")
                include.add(keyword)
            continue
        if len(values) != 1:
            raise QueryError(f"'{name[:40]}' is given {len(values)} times; give it once.")
        text = values[0]
        if name == "limit":
            limit = _int_param("limit", text, 1)
        elif name == "offset":
            offset = _int_param("offset", text, 0)
        elif name == "fuzzymatching":
            if text.lower() not in ("true", "false"):
                raise QueryError("fuzzymatching must be true or false.")
            fuzzy = text.lower() == "true"
        else:
            keyword = keyword_of(name)
            if keyword is None:
                raise QueryError(f"'{name[:40]}' is not a DICOM attribute or a QIDO-RS parameter.")
            if keyword not in MATCH_LEVEL:
                raise QueryError(f"Matching on {keyword} is not supported.")
            if not _allowed(level, keyword):
                raise QueryError(f"Matching on {keyword} is not supported in a {level} search.")
            if keyword == "Modality" and level == "study":
                keyword = "ModalitiesInStudy"
            if keyword in match:
                raise QueryError(f"{keyword} is given twice; give it once.")
            if text.strip() in ("", "*"):
                continue  # universal matching
            match[keyword] = _value(keyword, text)
    return Query(
        level=level,
        match=match,
        include=frozenset(include),
        include_all=include_all,
        limit=limit,
        offset=offset,
        fuzzy=fuzzy,
    )

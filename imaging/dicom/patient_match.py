"""The identity check of the viewer: the patient named inside a study's DICOM instances against
the portal patient the study is filed under (pure module, no Django).

A clinician reading a study must see when its files name someone else: the wrong patient's
instances filed here by a modality, a PACS or a hand upload. The DICOM attributes compared are
Patient's Name (0010,0010), Patient ID (0010,0020) and Patient's Birth Date (0010,0030). They
are PHI: what this module returns is for the clinician's page only, never for a log, a preview
or the ledger (its messages name no value).

Names are compared after Unicode compatibility folding, with accents and case dropped and
punctuation read as spaces: ``MÜLLER^Anna-Lena`` agrees with "Anna Lena" "Müller". The birth
date and the ID are compared only where the portal holds one.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

Level = Literal["ok", "warn", "bad"]
_TOKEN = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class DicomPatient:
    """The patient attributes of one instance, as stored (PN and DA strings; "" when absent)."""

    name: str = ""
    patient_id: str = ""
    birth_date: str = ""


@dataclass(frozen=True)
class PortalPatient:
    first_name: str = ""
    last_name: str = ""
    birth_date: date | None = None
    identifiers: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class IdentityRow:
    """One distinct identity found in the study, with how many instances carry it and whether
    each attribute agrees with the portal (None: not compared)."""

    name: str
    patient_id: str
    birth_date: str
    instances: int
    name_agrees: bool | None
    id_agrees: bool | None
    birth_agrees: bool | None

    @property
    def mismatch(self) -> bool:
        return False in (self.name_agrees, self.id_agrees, self.birth_agrees)


@dataclass(frozen=True)
class IdentityCheck:
    level: Level
    rows: tuple[IdentityRow, ...]
    findings: tuple[str, ...]

    @property
    def mismatch(self) -> bool:
        return self.level == "bad"


def tokens(text: str) -> tuple[str, ...]:
    """The words of a name: compatibility-folded, accents dropped, case-folded."""
    folded = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in folded if not unicodedata.combining(c)).casefold()
    return tuple(_TOKEN.findall(plain))


def _alphabetic(pn: str) -> list[str]:
    """The components of a PN value's alphabetic group (family, given, middle, prefix, suffix)."""
    return pn.split("=")[0].split("^")


def readable_name(pn: str) -> str:
    """``Family^Given^Middle^Prefix^Suffix`` as "Prefix Given Middle Family Suffix"."""
    parts = [p.strip() for p in _alphabetic(pn)] + [""] * 5
    family, given, middle, prefix, suffix = parts[:5]
    return " ".join(p for p in (prefix, given, middle, family, suffix) if p)


def readable_date(da: str) -> str:
    """A DA value (YYYYMMDD) as YYYY-MM-DD; anything else as it is."""
    text = da.strip()
    if re.fullmatch(r"\d{8}", text):
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text


def parse_date(da: str) -> date | None:
    text = da.strip()
    if not re.fullmatch(r"\d{8}", text):
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def name_agrees(pn: str, portal: PortalPatient) -> bool | None:
    """Whether a PN value names the portal patient; None when either side has no name.

    With components (``^``), the family name must equal the portal's last name and the given
    names must start with the portal's first name; a single-component value (some systems
    write "Given Family") must have the same words as the portal's full name."""
    first, last = tokens(portal.first_name), tokens(portal.last_name)
    components = _alphabetic(pn)
    if not (first or last) or not any(tokens(c) for c in components):
        return None
    if len(components) == 1:
        return sorted(tokens(components[0])) == sorted(first + last)
    family = tokens(components[0])
    given = tokens(" ".join(components[1:3]))
    return family == last and given[: len(first)] == first


def _key(patient: DicomPatient) -> tuple[tuple[str, ...], str, str]:
    return (
        tokens(" ".join(_alphabetic(patient.name))),
        patient.patient_id.strip(),
        patient.birth_date.strip(),
    )


def check(portal: PortalPatient, instances: Iterable[DicomPatient], *, unread: int = 0) -> IdentityCheck:
    """The identities the instances carry, each against the portal patient.

    bad: an attribute contradicts the portal, or the instances name more than one patient;
    warn: nothing contradicts, but the name could not be compared (an anonymous instance, a
    portal patient without a name) or `unread` instances could not be read;
    ok: every instance names the portal patient."""
    groups: dict[tuple[tuple[str, ...], str, str], list[DicomPatient]] = {}
    for patient in instances:
        groups.setdefault(_key(patient), []).append(patient)
    rows = tuple(_row(members, portal) for members in groups.values())
    findings = _findings(rows, unread)
    if any(row.mismatch for row in rows) or len(rows) > 1:
        level: Level = "bad"
    elif unread or not rows or any(row.name_agrees is None for row in rows):
        level = "warn"
    else:
        level = "ok"
    return IdentityCheck(level=level, rows=rows, findings=findings)


def _row(members: Sequence[DicomPatient], portal: PortalPatient) -> IdentityRow:
    patient = members[0]
    born = parse_date(patient.birth_date)
    pid = patient.patient_id.strip()
    return IdentityRow(
        name=readable_name(patient.name),
        patient_id=pid,
        birth_date=readable_date(patient.birth_date),
        instances=len(members),
        name_agrees=name_agrees(patient.name, portal),
        id_agrees=(pid in portal.identifiers) if pid and portal.identifiers else None,
        birth_agrees=(born == portal.birth_date) if born and portal.birth_date else None,
    )


def _findings(rows: Sequence[IdentityRow], unread: int) -> tuple[str, ...]:
    out: list[str] = []
    if len(rows) > 1:
        out.append(f"The instances of this study name {len(rows)} different patients.")
    if any(row.name_agrees is False for row in rows):
        out.append("The patient's name in the DICOM files differs from the portal patient's name.")
    if any(row.id_agrees is False for row in rows):
        out.append("The patient ID in the DICOM files is not one of the portal patient's identifiers.")
    if any(row.birth_agrees is False for row in rows):
        out.append("The birth date in the DICOM files differs from the portal patient's.")
    if any(row.name_agrees is None for row in rows):
        out.append("Some instances carry no patient name, or the portal has none: the name was not compared.")
    if unread:
        out.append(
            f"{unread} instance{'s' if unread != 1 else ''} could not be read and {'were' if unread != 1 else 'was'} not checked."
        )
    if not rows and not unread:
        out.append("The study has no DICOM instance with patient attributes to compare.")
    return tuple(out)

"""DICOMweb for a research purpose (HRESCH): de-identified instances only (imaging.research).

- **Search** (QIDO-RS): the instances the caller may see, decided and recorded by the same
  selectors as for treatment, less PNG/JPEG uploads (never released for research). Study,
  series and SOP instance UIDs are the caller's pseudonyms, in the results, in RetrieveURL and
  in the query and path; Study Date and Accession Number are left out of the results, and
  matching on them is refused (a de-identified instance has neither).
- **Retrieve** (WADO-RS): the pseudonymous UIDs of the path are mapped back among the
  instances of the patients who named the caller in a consent; then the policy decides and
  records each instance as for treatment. Instances, metadata, frames and rendered images are
  all made from the de-identified instance, so the identified original never leaves. An
  instance withheld (it may carry burned-in identifiers) is a 403 alone and left out of a
  study or series.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from typing import Any

from core.api.errors import ApiError
from imaging import api_selectors, research
from imaging.decode import decode_dicom
from imaging.dicom import deid, json_model, multipart, render
from imaging.dicom import frames as dicom_frames
from imaging.dicom.query import Query
from imaging.dicomweb import instances, selectors
from imaging.models import Scan
from portal.models import User

log = logging.getLogger(__name__)

UID_MATCH = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
NOT_IN_DEIDENTIFIED = ("StudyDate", "AccessionNumber")
DICOM = "application/dicom"


@dataclasses.dataclass(frozen=True)
class Pseudonyms:
    study: str
    series: str
    sop: str


def _pseudonyms(key: bytes, scan: Scan) -> Pseudonyms:
    return Pseudonyms(
        study=research.pseudonym_uid(key, scan.series.study.study_instance_uid),
        series=research.pseudonym_uid(key, scan.series.series_instance_uid),
        sop=research.pseudonym_uid(key, scan.sop_instance_uid),
    )


# --- search


def search_rows(
    *, actor: User, query: Query, study: str | None, series: str | None, base: str, cap: int
) -> tuple[list[dict[str, Any]], int]:
    """QIDO-RS result rows for a research caller, with pseudonymous UIDs (`study` and `series`
    of the path are pseudonyms too), and how many more rows there are."""
    refused = [k for k in NOT_IN_DEIDENTIFIED if k in query.match]
    if refused:
        raise ApiError(
            f"{' and '.join(refused)} cannot be matched for a research purpose: de-identified "
            "instances carry no dates or accession numbers.",
            400,
        )
    wanted = {k: query.match[k] for k in UID_MATCH if k in query.match}
    rest = dataclasses.replace(query, match={k: v for k, v in query.match.items() if k not in UID_MATCH})
    key = research.recipient_key(actor)
    scans, names = [], {}
    for scan in selectors.search(actor=actor, purpose=research.PURPOSE, query=rest):
        if not research.releasable(scan):
            continue
        p = _pseudonyms(key, scan)
        if (study is not None and p.study != study) or (series is not None and p.series != series):
            continue
        if any(
            value not in wanted[k]
            for k, value in (
                ("StudyInstanceUID", p.study),
                ("SeriesInstanceUID", p.series),
                ("SOPInstanceUID", p.sop),
            )
            if k in wanted
        ):
            continue
        scans.append(scan)
        names[scan.series.study.study_instance_uid] = p.study
        names[scan.series.series_instance_uid] = p.series
        names[scan.sop_instance_uid] = p.sop
    rows, more = selectors.results(scans, base=base, query=rest, cap=cap)
    return [_pseudonymous_row(row, names, base) for row in rows], more


def _pseudonymous_row(row: dict[str, Any], names: dict[str, str], base: str) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k not in NOT_IN_DEIDENTIFIED}
    for keyword in UID_MATCH:
        if keyword in out:
            out[keyword] = names[out[keyword]]
    if "RetrieveURL" in out:
        parts = [f"{base}/studies/{names[row['StudyInstanceUID']]}"]
        if "SeriesInstanceUID" in row:
            parts.append(f"series/{names[row['SeriesInstanceUID']]}")
        if "SOPInstanceUID" in row:
            parts.append(f"instances/{names[row['SOPInstanceUID']]}")
        out["RetrieveURL"] = "/".join(parts)
    return out


# --- retrieval


def _resolve(
    actor: User, study: str, series: str | None, sop: str | None
) -> tuple[str, str | None, str | None]:
    """The real UIDs behind the caller's pseudonyms, among the releasable instances of the
    patients whose consents name the caller; a 404 when they name none."""
    key = research.recipient_key(actor)
    patients = [p.pk for p in api_selectors.candidate_patients(actor)]
    qs = selectors.instances().filter(patient_id__in=patients, source_format="dicom")

    def find(values, pseudonym: str) -> str:
        for value in values:
            if research.pseudonym_uid(key, value) == pseudonym:
                return str(value)
        raise ApiError(selectors.HIDDEN, 404)

    field = "series__study__study_instance_uid"
    real_study = find(qs.values_list(field, flat=True).distinct(), study)
    qs = qs.filter(**{field: real_study})
    real_series = real_sop = None
    if series is not None:
        field = "series__series_instance_uid"
        real_series = find(qs.values_list(field, flat=True).distinct(), series)
        qs = qs.filter(**{field: real_series})
    if sop is not None:
        real_sop = find(qs.values_list("sop_instance_uid", flat=True).distinct(), sop)
    return real_study, real_series, real_sop


def retrievable(
    *, actor: User, action: str, study: str, series: str | None = None, sop: str | None = None
) -> list[Scan]:
    """The releasable instances named by pseudonymous UIDs that the policy lets the caller
    `action`, each decision recorded (imaging.dicomweb.selectors.retrievable)."""
    real = _resolve(actor, study, series, sop)
    scans = selectors.retrievable(
        actor=actor,
        purpose=research.PURPOSE,
        action=action,
        study_uid=real[0],
        series_uid=real[1],
        sop_uid=real[2],
    )
    released = [s for s in scans if research.releasable(s)]
    if not released:
        raise ApiError(research.NOT_RELEASED, 403)
    return released


def _deidentified(scan: Scan, reader: User) -> bytes:
    try:
        return research.deidentified_bytes(scan, reader=reader)
    except research.NotReleased as exc:
        raise ApiError(str(exc), 403) from None


def _released(scans: list[Scan], reader: User, withheld: list[str]) -> Iterator[tuple[Scan, bytes]]:
    """Each instance de-identified, those withheld left out (and why, in `withheld`)."""
    for scan in scans:
        try:
            yield scan, research.deidentified_bytes(scan, reader=reader)
        except research.NotReleased as exc:
            withheld.append(str(exc))


def instance_parts(scans: list[Scan], *, reader: User, boundary: str) -> Iterator[bytes]:
    """A multipart/related body of the de-identified instances, a withheld one left out; the
    first is made before this returns (a 403 saying why when none may leave), the others as
    the body is sent."""
    withheld: list[str] = []
    released = _released(scans, reader, withheld)
    with instances.reading(scans[0]):
        first = next(released, None)
    if first is None:
        raise ApiError(withheld[-1] if withheld else research.NOT_RELEASED, 403)
    return _parts(first, released, boundary=boundary)


def _parts(
    first: tuple[Scan, bytes], rest: Iterator[tuple[Scan, bytes]], *, boundary: str
) -> Iterator[bytes]:
    scan, data = first
    try:
        while True:
            yield multipart.part_head(boundary, f"{DICOM}; transfer-syntax={instances.transfer_syntax(scan)}")
            yield data
            yield multipart.part_separator()
            scan, data = next(rest)
    except StopIteration:
        pass
    except Exception as exc:  # noqa: BLE001 - mid-stream: the response can only end short
        log.warning(
            "DICOMweb research: an instance after scan %s not served (%s)", scan.pk, type(exc).__name__
        )
    yield multipart.closing(boundary)


def _dataset(scan: Scan, reader: User, *, pixels: bool) -> Any:
    return deid.read(_deidentified(scan, reader), pixels=pixels)


def metadata(scan: Scan, *, reader: User) -> dict:
    return json_model.metadata(_dataset(scan, reader, pixels=False))


def frames(scan: Scan, *, reader: User, numbers: str) -> list[bytes]:
    ds = _dataset(scan, reader, pixels=True)
    wanted = dicom_frames.parse_frame_list(numbers, dicom_frames.frame_count(ds))
    return [dicom_frames.frame_bytes(ds, n) for n in wanted]


def rendered(
    scan: Scan,
    *,
    reader: User,
    media_type: str,
    frame: int = 1,
    window: tuple[float, float, str] | None = None,
    viewport: tuple[int, int] | None = None,
    quality: int | None = None,
) -> bytes:
    if not 1 <= frame <= scan.frames:
        raise dicom_frames.FrameError(
            f"The instance has no frame {frame} (it has {scan.frames}).", status=404
        )
    display = decode_dicom(_deidentified(scan, reader), frame=frame - 1, window=window).display
    return render.encode(display, media_type, viewport=viewport, quality=quality)


def thumbnail(scan: Scan, *, reader: User, media_type: str) -> bytes:
    side = render.THUMBNAIL_SIDE
    return rendered(scan, reader=reader, media_type=media_type, viewport=(side, side))

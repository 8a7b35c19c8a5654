"""What the consent side may ask of imaging, and nothing more.

`portal` (consent, key wraps, receipts) reaches scans only through these functions, so the
consent side depends on one small interface instead of imaging's models and pipeline. The
scans handed out are read-only model instances: callers read their fields (patient,
modality, dates) for policy decisions and labels, and never save them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable

from imaging.models import Scan, ScanObject


def object_ids_readable(*, patient, may_read: Callable[[Scan], bool]) -> set[uuid.UUID]:
    """Ids of the stored objects of `patient`'s scans for which `may_read(scan)` holds: the
    objects a reader's key wraps must cover. Two queries, however many scans."""
    scan_ids = [scan.pk for scan in Scan.objects.filter(patient=patient) if may_read(scan)]
    if not scan_ids:
        return set()
    return set(ScanObject.objects.filter(scan_id__in=scan_ids).values_list("id", flat=True))


def owned_scan_ids(*, patient, scan_ids: Iterable[str]) -> set[str]:
    """The ids among `scan_ids` that are scans of `patient` (as strings)."""
    rows = Scan.objects.filter(patient=patient, id__in=list(scan_ids)).values_list("id", flat=True)
    return {str(pk) for pk in rows}


def scan_choices(patient) -> list[tuple[str, str]]:
    """(id, label) of `patient`'s scans, for a consent's "these scans only" scope."""
    return [
        (str(s.id), f"{s.modality or s.source_format.upper()} scan of {s.created_at:%d %b %Y}")
        for s in Scan.objects.filter(patient=patient)
    ]


def scan_for_decision(scan_id) -> Scan | None:
    """The scan `scan_id` with its patient, for a policy decision; None if there is none."""
    try:
        pk = uuid.UUID(str(scan_id))
    except ValueError:
        return None
    return Scan.objects.select_related("patient").filter(pk=pk).first()

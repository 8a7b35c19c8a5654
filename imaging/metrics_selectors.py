"""Imaging's readings for /metrics (portal/metrics.py), so the portal reads no imaging model."""

from __future__ import annotations

from django.db.models import Count

from imaging.models import Scan, ScanStatus


def scans_by_status() -> dict[str, int]:
    """Every pipeline status, with 0 for the ones no scan is in."""
    counts = dict.fromkeys(ScanStatus.values, 0)
    for row in Scan.objects.values("status").annotate(n=Count("id")).order_by():
        counts[row["status"]] = row["n"]
    return counts

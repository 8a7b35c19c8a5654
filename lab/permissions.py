"""Who may use the quantum lab: clinicians (researchers), auditors and administrators."""

from __future__ import annotations

from portal.models import Role

LAB_ROLES = (Role.CLINICIAN, Role.AUDITOR, Role.ADMIN)
# a lab run on a scan decrypts the scan's 128x128 matrix: that is research use
SCAN_PURPOSE = "HRESCH"


def can_use_lab(user) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.is_active and user.role in LAB_ROLES)

"""Who may use the quantum lab: clinicians (researchers), auditors and administrators; and who
may see what a run made from a patient's scan produced."""

from __future__ import annotations

from portal.models import Role

LAB_ROLES = (Role.CLINICIAN, Role.AUDITOR, Role.ADMIN)
# a lab run on a scan decrypts the scan's 128x128 matrix: that is research use
SCAN_PURPOSE = "HRESCH"


def can_use_lab(user) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.is_active and user.role in LAB_ROLES)


def authorize_run(*, user, run, record: bool = True):
    """The policy decision on seeing what `run` derived from a patient's scan (its figure,
    numbers and page): the same decision as viewing that scan for research, recorded like
    any access by portal.access.authorize (access history + ledger) unless ``record=False``.
    None for a simulation not made from a scan: those are their creator's alone, which the
    caller has checked (lab.selectors.run_of)."""
    if not run.uses_scan:
        return None
    from imaging.selectors import scan_by_id
    from portal.access import authorize
    from portal.policy import HIDDEN, deny

    scan = scan_by_id(run.params.get("scan_id"))
    if scan is None:
        return deny("no_scan", HIDDEN, 404)
    return authorize(actor=user, action="view", scan=scan, purpose=SCAN_PURPOSE, record=record)

"""Reads behind DIMSE: the peer an association comes from, the patient a DICOM Patient ID is
linked to, and the reconciliation queue of an organisation."""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from imaging.dimse import vault
from imaging.models import DicomPatientLink, DicomPeer, PendingInstance
from portal.consent_selectors import patients_of
from portal.models import Role, User
from portal.policy import decide


def _same_host(expected: str, address: str | None) -> bool:
    try:
        got = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    if isinstance(got, ipaddress.IPv6Address) and got.ipv4_mapped is not None:
        got = got.ipv4_mapped
    return got == ipaddress.ip_address(expected)


def peer_for_caller(*, ae_title: str, address: str | None) -> DicomPeer | None:
    """The active peer with this calling AE title, if its host (when set) is `address`."""
    peer = (
        DicomPeer.objects.select_related("organisation")
        .filter(ae_title=ae_title.strip(), is_active=True)
        .first()
    )
    if peer is None or (peer.host and not _same_host(peer.host, address)):
        return None
    return peer


def linked_patient(*, organisation_id: Any, patient_key: str) -> User | None:
    """The portal patient an organisation's DICOM Patient ID (its key) is linked to."""
    if not patient_key:
        return None
    link = (
        DicomPatientLink.objects.select_related("patient")
        .filter(organisation_id=organisation_id, patient_key=patient_key)
        .first()
    )
    return link.patient if link is not None and link.patient.role == Role.PATIENT else None


# --- the reconciliation queue


@dataclass
class PendingGroup:
    """The queued instances of one DICOM patient (one Patient ID of the organisation; an
    instance without a Patient ID is a group of its own), oldest first."""

    items: list[PendingInstance]
    modalities: list[str] = field(default_factory=list)
    demographics: vault.Demographics | None = None  # PHI: for the reconciling clinician only

    @property
    def first(self) -> PendingInstance:
        return self.items[0]

    @property
    def received_from(self) -> datetime:
        return self.items[0].received_at

    @property
    def received_to(self) -> datetime:
        return self.items[-1].received_at


def _groups(items: list[PendingInstance]) -> list[PendingGroup]:
    groups: dict[Any, PendingGroup] = {}
    for item in items:
        key = item.patient_key or item.id
        groups.setdefault(key, PendingGroup(items=[])).items.append(item)
    for group in groups.values():
        group.modalities = sorted({i.modality for i in group.items if i.modality})
    return list(groups.values())


def pending_groups(*, organisation_id: Any, with_demographics: bool = True) -> list[PendingGroup]:
    """The organisation's queue, one group per DICOM patient, the longest waiting first; with
    the demographics of each group's first instance (decrypted here, never stored in clear)."""
    items = list(
        PendingInstance.objects.filter(organisation_id=organisation_id).order_by("received_at", "id")
    )
    groups = _groups(items)
    if with_demographics:
        for group in groups:
            group.demographics = vault.demographics(vault.open_bytes(group.first))
    return groups


def pending_group(*, organisation_id: Any, pending_id: uuid.UUID) -> list[PendingInstance]:
    """The queued instance `pending_id` of the organisation with the others of its DICOM
    patient, oldest first; [] when the organisation has no such instance."""
    item = PendingInstance.objects.filter(organisation_id=organisation_id, pk=pending_id).first()
    if item is None:
        return []
    if not item.patient_key:
        return [item]
    return list(
        PendingInstance.objects.filter(
            organisation_id=organisation_id, patient_key=item.patient_key
        ).order_by("received_at", "id")
    )


def attachable_patients(clinician: User) -> list[User]:
    """Patients the clinician may upload for now: those queued instances may be attached to."""
    return [p for p in patients_of(clinician) if decide(clinician, "upload", p).allowed]


def pending_count(*, organisation_id: Any) -> int:
    return PendingInstance.objects.filter(organisation_id=organisation_id).count()

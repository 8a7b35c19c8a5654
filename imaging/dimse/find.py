"""Study-level C-FIND, answered from the selectors behind QIDO-RS.

A peer searches as its organisation's DICOM node with the purpose TREAT: it finds the studies
of the patients whose consent covers the organisation (as the organisation's clinicians do),
each instance decided by the policy and one ``list`` decision recorded per patient looked at
(imaging.dicomweb.selectors.search). A PatientID key narrows the search to the patient the
organisation's Patient ID is linked to, and finds nothing when it is linked to none.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from imaging.dicom.dimse import FindRequest
from imaging.dicomweb.selectors import results, search
from imaging.dimse import matching, selectors, services
from imaging.models import DicomPeer


def studies(*, peer: DicomPeer, request: FindRequest) -> list[dict[str, Any]]:
    """The study rows (keyword -> value) the peer's organisation may see, at most the QIDO cap."""
    patient_id = None
    if request.patient_id is not None:
        key = matching.key_of(
            organisation_id=peer.organisation_id, issuer=request.issuer, patient_id=request.patient_id
        )
        patient = selectors.linked_patient(organisation_id=peer.organisation_id, patient_key=key)
        if patient is None:
            return []
        patient_id = patient.pk
    node = services.node_identity(peer.organisation)
    scans = search(actor=node, purpose=services.PURPOSE, query=request.query, patient_id=patient_id)
    rows, _more = results(scans, base="", query=request.query, cap=settings.QMC_DICOMWEB_MAX_RESULTS)
    return rows

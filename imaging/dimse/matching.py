"""The keyed hash that stands for a DICOM Patient ID: an organisation's identifier of a patient
is matched without being stored (imaging.models.DicomPatientLink, PendingInstance)."""

from __future__ import annotations

from typing import Any

from core import keyvault
from crypto.sealing import derive
from imaging.dicom.dimse import patient_key


def _key() -> bytes:
    # a subkey of the master key of its own: the ledger's pseudonyms use another one, so a hash
    # here cannot be compared with anything on the public log
    return derive(keyvault.master_key(), b"dicom-patient-id")


def key_of(*, organisation_id: Any, issuer: str, patient_id: str) -> str:
    """The hash of (organisation, Issuer of Patient ID, Patient ID); "" for no Patient ID."""
    return patient_key(_key(), organisation_id=str(organisation_id), issuer=issuer, patient_id=patient_id)


def key_of_dataset(*, organisation_id: Any, ds: Any) -> str:
    """`key_of` the Patient ID and issuer a data set (pydicom) carries."""
    return key_of(
        organisation_id=organisation_id,
        issuer=str(ds.get("IssuerOfPatientID", "") or ""),
        patient_id=str(ds.get("PatientID", "") or ""),
    )

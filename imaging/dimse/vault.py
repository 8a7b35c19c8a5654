"""The bytes of a queued instance (imaging.models.PendingInstance): sealed at reception for the
system key pair only, opened for the attach and for the clinician who reconciles it.

An instance in the queue belongs to no patient yet, so no key wrap row (which names a patient)
can hold its data key: the row itself keeps the key wrapped (hybrid ML-KEM-768 + X25519) for
the system's public key, bound to the row's id like any data key (`portal.keys.wrap_context`),
and the AES-256-GCM envelope is bound to the same id.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from crypto import envelope, hybrid_kem
from imaging import blobs
from imaging.models import PendingInstance
from imaging.storage import BlobCorrupted, StorageError
from imaging.validation import read_dicom_header
from portal import keys

log = logging.getLogger(__name__)

KIND = "dicom-pending"


@dataclass(frozen=True)
class Sealed:
    cid: str
    ciphertext_sha256: str
    wrapped_key: bytes


def seal(*, pending_id: uuid.UUID, data: bytes) -> Sealed:
    """Encrypt `data` under a new data key, put the ciphertext in the blob store (may raise
    StorageUnavailable) and wrap the key for the system."""
    key = envelope.new_data_key()
    ciphertext = envelope.encrypt(data, key, object_id=str(pending_id), kind=KIND)
    system = keys.keypair_for(None)
    wrapped = hybrid_kem.wrap(bytes(system.public_key), key, context=keys.wrap_context(pending_id, None))
    cid = blobs.store().put(ciphertext)
    return Sealed(cid, hashlib.sha256(ciphertext).hexdigest(), wrapped)


def open_bytes(pending: PendingInstance) -> bytes:
    """The received bytes of a queued instance (the system unwraps its key)."""
    system = keys.keypair_for(None)
    key = keys.unwrap_columns(
        object_id=pending.id,
        reader=None,
        wrapped=pending.wrapped_key,
        sealed=system.sealed_private_key,
        fingerprint=system.fingerprint,
    )
    ciphertext = blobs.store().get(pending.cid)
    if hashlib.sha256(ciphertext).hexdigest() != pending.ciphertext_sha256:
        raise BlobCorrupted("ciphertext of a queued instance does not match its recorded SHA-256")
    return envelope.decrypt(ciphertext, key, object_id=str(pending.id), kind=KIND)


@dataclass(frozen=True)
class Demographics:
    """What the instance says of its patient: PHI, shown to the reconciling clinician only."""

    name: str
    patient_id: str
    issuer: str
    birth_date: str  # YYYY-MM-DD, or as sent when it is not a date
    sex: str
    study_date: str
    study_description: str


def _date(value: Any) -> str:
    text = str(value or "").strip()
    if len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text


def _name(value: Any) -> str:
    if not value:
        return ""
    family = getattr(value, "family_name", "") or ""
    given = getattr(value, "given_name", "") or ""
    return ", ".join(part for part in (family, given) if part) or str(value)


def demographics(data: bytes) -> Demographics:
    ds = read_dicom_header(data)
    return Demographics(
        name=_name(ds.get("PatientName")),
        patient_id=str(ds.get("PatientID", "") or "").strip(),
        issuer=str(ds.get("IssuerOfPatientID", "") or "").strip(),
        birth_date=_date(ds.get("PatientBirthDate")),
        sex=str(ds.get("PatientSex", "") or "").strip(),
        study_date=_date(ds.get("StudyDate")),
        study_description=str(ds.get("StudyDescription", "") or "").strip(),
    )


def delete_blob_quietly(cid: str) -> None:
    """Drop a queued instance's ciphertext once its row is gone (an orphan blob is only
    ciphertext whose key went with the row)."""
    try:
        blobs.store().delete(cid)
    except StorageError:
        log.error("could not delete the blob of a queued DICOM instance")

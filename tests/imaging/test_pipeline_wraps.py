"""Who gets the derived objects' data keys: exactly who holds the original's key when the
pipeline stages them (consent changes between upload and processing included)."""

import pytest

from imaging import pipeline
from imaging.models import ObjectKind, ScanObject, ScanStatus
from portal import consent_services, keys
from portal.models import WrappedKey
from tests.factories import ClinicianFactory
from tests.imaging.conftest import dicom_bytes, upload_file

pytestmark = pytest.mark.django_db


def _readers(obj) -> set:
    return set(WrappedKey.objects.filter(object_id=obj.id).values_list("reader_id", flat=True))


def test_consent_changes_before_processing_decide_the_derived_objects_readers(patient, clinician):
    from imaging.services import scan_upload

    scan = scan_upload(uploader=clinician, patient=patient, file=upload_file(dicom_bytes(), "a.dcm"))
    late, revoked = ClinicianFactory(), ClinicianFactory()
    grant = consent_services.consent_grant(
        patient=patient, grantee_user=revoked, actions=["view"], purposes=["TREAT"]
    )
    consent_services.consent_grant(patient=patient, grantee_user=late, actions=["view"], purposes=["TREAT"])
    consent_services.consent_revoke(actor=patient, consent=grant)

    assert pipeline.run(scan.pk) == ScanStatus.DONE
    objects = {o.kind: o for o in ScanObject.objects.filter(scan=scan)}
    expected = {None, patient.pk, clinician.pk, late.pk}  # the system, the patient, both current readers
    for kind in (ObjectKind.ORIGINAL, ObjectKind.PREVIEW, ObjectKind.MATRIX):
        assert _readers(objects[kind]) == expected, kind
    for kind in (ObjectKind.PREVIEW, ObjectKind.MATRIX):
        obj = objects[kind]
        key = keys.unwrap_for(object_id=obj.id, reader=None)
        assert keys.unwrap_for(object_id=obj.id, reader=late) == key  # a real wrap of the same key
        with pytest.raises(keys.KeyAccessError):
            keys.unwrap_for(object_id=obj.id, reader=revoked)


def test_a_wrap_copied_to_another_reader_does_not_unwrap(patient, clinician):
    """The wrap context binds object and reader: moving the clinician's wrap of the preview
    to another reader's row gives that reader nothing."""
    from imaging.services import scan_upload

    scan = scan_upload(uploader=clinician, patient=patient, file=upload_file(dicom_bytes(), "a.dcm"))
    pipeline.run(scan.pk)
    other = ClinicianFactory()
    keys.keypair_for(other)
    preview = ScanObject.objects.get(scan=scan, kind=ObjectKind.PREVIEW)
    stolen = WrappedKey.objects.get(object_id=preview.id, reader=clinician)
    WrappedKey.objects.create(object_id=preview.id, patient=patient, reader=other, wrapped=stolen.wrapped)
    with pytest.raises(keys.KeyAccessError):
        keys.unwrap_for(object_id=preview.id, reader=other)


def test_wrapping_refuses_to_overwrite_an_objects_wraps(patient, clinician):
    """`wrap_for_keys` is for new objects: wrapping a stored object's id again (say, with a key
    an attacker chose) fails and leaves the existing wraps and key untouched."""
    from django.db import IntegrityError, transaction

    from crypto import envelope
    from imaging.services import scan_upload

    scan = scan_upload(uploader=clinician, patient=patient, file=upload_file(dicom_bytes(), "a.dcm"))
    original = ScanObject.objects.get(scan=scan, kind=ObjectKind.ORIGINAL)
    before = keys.unwrap_for(object_id=original.id, reader=clinician)
    with pytest.raises(IntegrityError), transaction.atomic():
        keys.wrap_for_keys(
            patient_id=patient.pk,
            data_keys={original.id: envelope.new_data_key()},
            publics=keys.public_keys_of([None, clinician.pk], known={}),
        )
    assert keys.unwrap_for(object_id=original.id, reader=clinician) == before
    assert _readers(original) == {None, patient.pk, clinician.pk}


def test_public_keys_come_from_what_was_read_and_a_first_key_pair_is_made(patient, clinician):
    import uuid

    from portal.models import UserKeyPair

    newcomer = ClinicianFactory()
    assert not UserKeyPair.objects.filter(user=newcomer).exists()
    known = keys.public_keys_of([None, patient.pk], known={})  # read from the database
    assert known[None] == bytes(keys.keypair_for(None).public_key)
    gone = uuid.uuid4()  # a reader deleted since the reads
    publics = keys.public_keys_of([None, patient.pk, newcomer.pk, gone], known={**known, clinician.pk: b"x"})
    assert set(publics) == {None, patient.pk, newcomer.pk}  # the superset's extra key is not used
    assert publics[newcomer.pk] == bytes(UserKeyPair.objects.get(user=newcomer).public_key)
    assert publics[patient.pk] == known[patient.pk]

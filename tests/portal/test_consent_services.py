from datetime import date, timedelta

import pytest
from django.utils import timezone

from crypto import envelope
from ledger.models import PendingEvent
from portal import keys
from portal.consent_services import (
    ConsentError,
    breakglass_open,
    consent_grant,
    consent_record_expiry,
    consent_revoke,
    consents_sweep,
)
from portal.models import Consent, WrappedKey
from tests.factories import ClinicianFactory, OrganisationFactory, PatientFactory, make_scan

pytestmark = pytest.mark.django_db


def _decrypt_as(reader, obj, ciphertext) -> bytes:
    data_key = keys.unwrap_for(object_id=obj.id, reader=reader)
    return envelope.decrypt(ciphertext, data_key, object_id=str(obj.id), kind="original")


def ledger_types():
    return list(PendingEvent.objects.order_by("id").values_list("event_type", flat=True))


def test_grant_wraps_keys_and_revoke_deletes_them_so_decryption_fails_even_bypassing_policy():
    patient, clinician = PatientFactory(), ClinicianFactory()
    scan, obj, ciphertext = make_scan(patient, content=b"secret pixels")
    with pytest.raises(keys.KeyAccessError):
        _decrypt_as(clinician, obj, ciphertext)
    consent = consent_grant(patient=patient, grantee_user=clinician, actions=["view"], purposes=["TREAT"])
    assert _decrypt_as(clinician, obj, ciphertext) == b"secret pixels"
    revoked, changed = consent_revoke(actor=patient, consent=consent)
    assert changed and revoked.version == 2 and revoked.status == "inactive"
    assert not WrappedKey.objects.filter(reader=clinician).exists()
    with pytest.raises(keys.KeyAccessError):  # no policy involved: the key itself is gone
        _decrypt_as(clinician, obj, ciphertext)
    assert _decrypt_as(patient, obj, ciphertext) == b"secret pixels"
    assert ledger_types() == ["consent.granted", "consent.revoked"]


def test_a_wrap_copied_to_another_reader_does_not_unwrap():
    patient, clinician, intruder = PatientFactory(), ClinicianFactory(), ClinicianFactory()
    scan, obj, ciphertext = make_scan(patient)
    consent_grant(patient=patient, grantee_user=clinician, actions=["view"], purposes=["TREAT"])
    stolen = WrappedKey.objects.get(object_id=obj.id, reader=clinician)
    keys.keypair_for(intruder)
    WrappedKey.objects.create(object_id=obj.id, patient=patient, reader=intruder, wrapped=stolen.wrapped)
    with pytest.raises(keys.KeyAccessError):
        _decrypt_as(intruder, obj, ciphertext)


def test_revoking_twice_is_a_noop_and_old_versions_are_kept():
    patient, clinician = PatientFactory(), ClinicianFactory()
    consent = consent_grant(patient=patient, grantee_user=clinician, actions=["view"], purposes=["TREAT"])
    consent_revoke(actor=patient, consent=consent)
    again, changed = consent_revoke(actor=patient, consent=consent)
    assert not changed and again.version == 2
    assert Consent.objects.filter(series=consent.series).count() == 2
    assert ledger_types().count("consent.revoked") == 1


def test_organisation_grant_covers_all_its_clinicians_only():
    org = OrganisationFactory()
    a, b, outsider = (
        ClinicianFactory(organisation=org),
        ClinicianFactory(organisation=org),
        ClinicianFactory(),
    )
    patient = PatientFactory()
    scan, obj, ciphertext = make_scan(patient)
    consent_grant(patient=patient, grantee_org=org, actions=["view"], purposes=["TREAT"])
    assert _decrypt_as(a, obj, ciphertext) == _decrypt_as(b, obj, ciphertext) == b"pixels"
    with pytest.raises(keys.KeyAccessError):
        _decrypt_as(outsider, obj, ciphertext)


def test_listed_scope_wraps_only_the_listed_scan():
    patient, clinician = PatientFactory(), ClinicianFactory()
    shared, shared_obj, _ = make_scan(patient)
    other, other_obj, _ = make_scan(patient)
    consent_grant(
        patient=patient,
        grantee_user=clinician,
        actions=["view"],
        purposes=["TREAT"],
        scope_kind="listed",
        scope_scan_ids=[shared.id],
    )
    readers = set(WrappedKey.objects.filter(reader=clinician).values_list("object_id", flat=True))
    assert readers == {shared_obj.id}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"actions": ["fly"], "purposes": ["TREAT"]}, "Unknown action"),
        ({"actions": ["view"], "purposes": ["MARKETING"]}, "Unknown purpose of use"),
        ({"actions": [], "purposes": ["TREAT"]}, "at least one action"),
        ({"actions": ["view"], "purposes": ["TREAT"], "end": "past"}, "already in the past"),
        ({"actions": ["view"], "purposes": ["TREAT"], "end": "before_start"}, "after its start"),
        (
            {"actions": ["view"], "purposes": ["TREAT"], "scope_kind": "listed", "scope_scan_ids": []},
            "Pick at least",
        ),
        ({"actions": ["view"], "purposes": ["TREAT"], "scope_kind": "filter"}, "needs a modality"),
        (
            {
                "actions": ["view"],
                "purposes": ["TREAT"],
                "scope_kind": "filter",
                "scope_from": date(2024, 2, 1),
                "scope_to": date(2024, 1, 1),
            },
            "ends before it starts",
        ),
    ],
)
def test_bad_grants_are_refused_with_a_clear_message_and_nothing_written(kwargs, message):
    patient, clinician = PatientFactory(), ClinicianFactory()
    now = timezone.now()
    if kwargs.get("end") == "past":
        kwargs["end"] = now - timedelta(minutes=1)
    if kwargs.get("end") == "before_start":
        kwargs["start"], kwargs["end"] = now + timedelta(days=2), now + timedelta(days=1)
    with pytest.raises(ConsentError, match=message):
        consent_grant(patient=patient, grantee_user=clinician, **kwargs)
    assert not Consent.objects.exists() and not PendingEvent.objects.exists()


def test_patient_cannot_grant_on_another_patients_scans_and_clinician_cannot_grant():
    alice, bob, clinician = PatientFactory(), PatientFactory(), ClinicianFactory()
    bobs_scan, _, _ = make_scan(bob)
    with pytest.raises(ConsentError) as err:
        consent_grant(
            patient=alice,
            grantee_user=clinician,
            actions=["view"],
            purposes=["TREAT"],
            scope_kind="listed",
            scope_scan_ids=[bobs_scan.id],
        )
    assert err.value.status_code == 404
    with pytest.raises(ConsentError):
        consent_grant(
            patient=alice, grantee_user=clinician, actions=["view"], purposes=["TREAT"], created_by=clinician
        )
    with pytest.raises(ConsentError):
        consent_grant(patient=alice, grantee_user=bob, actions=["view"], purposes=["TREAT"])
    consent = consent_grant(patient=alice, grantee_user=clinician, actions=["view"], purposes=["TREAT"])
    with pytest.raises(ConsentError):
        consent_revoke(actor=clinician, consent=consent)
    with pytest.raises(ConsentError):
        consent_revoke(actor=bob, consent=consent)
    assert Consent.objects.get(series=consent.series, is_current=True).status == "active"


def test_expiry_is_recorded_once_removes_wraps_and_notifies(django_capture_on_commit_callbacks):
    patient, clinician = PatientFactory(), ClinicianFactory()
    scan, obj, ciphertext = make_scan(patient)
    consent = consent_grant(
        patient=patient,
        grantee_user=clinician,
        actions=["view"],
        purposes=["TREAT"],
        end=timezone.now() + timedelta(hours=1),
    )
    now = timezone.now()
    Consent.objects.filter(pk=consent.pk).update(
        start=now - timedelta(hours=2), end=now - timedelta(seconds=1)
    )
    assert consents_sweep() == {"expired": 1}
    assert consents_sweep() == {"expired": 0}
    assert not consent_record_expiry(consent=consent)
    assert ledger_types().count("consent.expired") == 1
    with pytest.raises(keys.KeyAccessError):
        _decrypt_as(clinician, obj, ciphertext)
    assert patient.notifications.filter(kind="consent.expired").exists()


def test_breakglass_wraps_keys_for_its_period_and_requires_a_reason():
    patient, clinician = PatientFactory(), ClinicianFactory()
    scan, obj, ciphertext = make_scan(patient)
    with pytest.raises(ConsentError, match="reason"):
        breakglass_open(clinician=clinician, patient=patient, reason="help")
    bg = breakglass_open(clinician=clinician, patient=patient, reason="Unconscious patient in A&E, CT needed")
    assert _decrypt_as(clinician, obj, ciphertext) == b"pixels"
    assert "breakglass.used" in ledger_types()
    assert patient.notifications.filter(kind="breakglass.used").exists()
    type(bg).objects.filter(pk=bg.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    consents_sweep()
    with pytest.raises(keys.KeyAccessError):
        _decrypt_as(clinician, obj, ciphertext)


def test_access_under_breakglass_is_recorded_as_emergency_treatment():
    from portal.access import authorize
    from portal.models import AccessEvent

    patient, clinician = PatientFactory(), ClinicianFactory()
    scan, _, _ = make_scan(patient)
    breakglass_open(clinician=clinician, patient=patient, reason="Found unresponsive, needs urgent review")
    decision = authorize(actor=clinician, action="view", scan=scan)  # declared TREAT by default
    assert decision.allowed and decision.reason == "breakglass"
    event = AccessEvent.objects.get(actor=clinician, scan_id=scan.id)
    assert event.purpose == "ETREAT" and event.breakglass_id is not None

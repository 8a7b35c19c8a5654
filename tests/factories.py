import factory
from django.contrib.auth.hashers import make_password

from portal.models import Organisation, Role, User

PASSWORD = "correct-horse-battery-staple"
# hashing with Argon2 for every factory user would dominate test time
_HASHED = None


def _hashed_password():
    global _HASHED
    if _HASHED is None:
        _HASHED = make_password(PASSWORD)
    return _HASHED


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation

    name = factory.Sequence(lambda n: f"Hospital {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.LazyFunction(_hashed_password)
    role = Role.PATIENT


class PatientFactory(UserFactory):
    role = Role.PATIENT


class ClinicianFactory(UserFactory):
    role = Role.CLINICIAN
    organisation = factory.SubFactory(OrganisationFactory)


class AuditorFactory(UserFactory):
    role = Role.AUDITOR


class AdminFactory(UserFactory):
    role = Role.ADMIN
    is_staff = True
    is_superuser = True


def make_scan(patient, *, uploader=None, modality="CT", study_date=None, content: bytes = b"pixels"):
    """A scan with one encrypted object whose data key is wrapped like the pipeline does it.

    Returns (scan, scan_object, ciphertext) — the ciphertext stays in memory for tests.
    """
    from crypto import envelope
    from imaging.models import Scan, ScanObject
    from portal import keys
    from portal.consent_selectors import readers_for_scan

    scan = Scan.objects.create(
        patient=patient,
        uploaded_by=uploader or patient,
        source_format="dicom",
        original_size=len(content),
        original_sha256="0" * 64,
        modality=modality,
        study_date=study_date,
        status="done",
    )
    obj = ScanObject.objects.create(
        scan=scan,
        kind="original",
        cid="bafkreitest",
        ciphertext_sha256="0" * 64,
        plaintext_size=len(content),
        backend="test",
    )
    data_key = envelope.new_data_key()
    ciphertext = envelope.encrypt(content, data_key, object_id=str(obj.id), kind="original")
    for reader in [None, patient, *readers_for_scan(scan)]:
        keys.wrap_for(object_id=obj.id, patient=patient, data_key=data_key, reader=reader)
    return scan, obj, ciphertext


def login_verified(client, user):
    """Log `user` in with a verified second factor (as after entering a valid TOTP code)."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device, _ = TOTPDevice.objects.get_or_create(user=user, name="test", defaults={"confirmed": True})
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client

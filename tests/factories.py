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

"""The authorization matrix of the policy decision point, as a table.

Each row is an actor, each column an operation on Alice's data; a cell is the outcome:
200 = allowed, otherwise the status the refusal becomes (404 hides existence). The HTTP
matrix in tests/test_url_matrix.py drives the same actors through every URL.
"""

from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from portal.consent_services import breakglass_open, consent_grant, consent_revoke
from portal.models import Consent
from portal.policy import decide
from tests.factories import (
    AdminFactory,
    AuditorFactory,
    ClinicianFactory,
    OrganisationFactory,
    PatientFactory,
    UserFactory,
    make_scan,
)

OPERATIONS = ["list", "view", "download", "upload", "view_history", "grant", "revoke"]
MATRIX = """
actor                 list view download upload view_history grant revoke
patient               200  200  200      200    200          200   200
other_patient         404  404  404      404    404          404   404
clinician_consent     200  200  200      200    404          404   404
clinician_of_org      200  200  403      403    404          404   404
clinician_no_consent  404  404  404      404    404          404   404
clinician_revoked     403  403  403      403    404          404   404
clinician_expired     403  403  403      403    404          404   404
clinician_wrong_purp  403  403  403      403    404          404   404
clinician_breakglass  200  200  200      404    404          404   404
auditor               404  404  404      404    404          404   404
admin                 404  404  404      404    404          404   404
anonymous             401  401  401      401    401          401   401
api_client_consent    200  200  403      403    404          404   404
api_client_none       404  404  404      404    404          404   404
dicom_node_of_org     200  200  403      403    404          404   404
dicom_node_elsewhere  404  404  404      404    404          404   404
"""


def parse(table: str) -> dict[tuple[str, str], int]:
    lines = [line.split() for line in table.strip().splitlines()]
    header = lines[0][1:]
    return {(row[0], op): int(cell) for row in lines[1:] for op, cell in zip(header, row[1:], strict=True)}


EXPECTED = parse(MATRIX)
ACTORS = sorted({actor for actor, _ in EXPECTED})


@pytest.fixture
def world(db):
    alice = PatientFactory()
    scan, _, _ = make_scan(alice)
    org = OrganisationFactory()
    people = {
        "patient": alice,
        "other_patient": PatientFactory(),
        "clinician_consent": ClinicianFactory(),
        "clinician_of_org": ClinicianFactory(organisation=org),
        "clinician_no_consent": ClinicianFactory(),
        "clinician_revoked": ClinicianFactory(),
        "clinician_expired": ClinicianFactory(),
        "clinician_wrong_purp": ClinicianFactory(),
        "clinician_breakglass": ClinicianFactory(),
        "auditor": AuditorFactory(),
        "admin": AdminFactory(),
        "anonymous": AnonymousUser(),
        "api_client_consent": UserFactory(role="api_client"),
        "api_client_none": UserFactory(role="api_client"),
        # an organisation's DICOM node (imaging.dimse) is covered by its organisation's consents only
        "dicom_node_of_org": UserFactory(role="dicom_node", organisation=org),
        "dicom_node_elsewhere": UserFactory(role="dicom_node", organisation=OrganisationFactory()),
    }
    everything = ["view", "download", "upload"]
    consent_grant(
        patient=alice, grantee_user=people["clinician_consent"], actions=everything, purposes=["TREAT"]
    )
    consent_grant(patient=alice, grantee_org=org, actions=["view"], purposes=["TREAT"])
    revoked = consent_grant(
        patient=alice, grantee_user=people["clinician_revoked"], actions=everything, purposes=["TREAT"]
    )
    consent_revoke(actor=alice, consent=revoked)
    expired = consent_grant(
        patient=alice,
        grantee_user=people["clinician_expired"],
        actions=everything,
        purposes=["TREAT"],
        end=timezone.now() + timedelta(days=1),
    )
    Consent.objects.filter(pk=expired.pk).update(
        start=timezone.now() - timedelta(days=10), end=timezone.now() - timedelta(days=1)
    )
    consent_grant(
        patient=alice, grantee_user=people["clinician_wrong_purp"], actions=everything, purposes=["HRESCH"]
    )
    breakglass_open(
        clinician=people["clinician_breakglass"], patient=alice, reason="Collapsed in the waiting room"
    )
    consent_grant(
        patient=alice, grantee_user=people["api_client_consent"], actions=["view"], purposes=["TREAT"]
    )
    return people, scan


def test_matrix_covers_every_actor_and_operation():
    assert len(EXPECTED) == len(ACTORS) * len(OPERATIONS)


@pytest.mark.parametrize("actor", ACTORS)
def test_policy_matrix(world, actor):
    people, scan = world
    alice = people["patient"]
    outcomes = {}
    for op in OPERATIONS:
        resource = scan if op in ("view", "download") else alice
        decision = decide(people[actor], op, resource, "TREAT")
        outcomes[op] = 200 if decision.allowed else decision.status_code
    assert outcomes == {op: EXPECTED[(actor, op)] for op in OPERATIONS}


def test_decisions_name_the_consent_version_they_rest_on(world):
    people, scan = world
    decision = decide(people["clinician_consent"], "view", scan, "TREAT")
    assert decision.allowed and decision.consent is not None and decision.consent_version == 1
    revoked = decide(people["clinician_revoked"], "view", scan, "TREAT")
    assert revoked.reason == "consent_revoked" and revoked.consent_version == 2


def test_expiry_takes_effect_at_the_instant_without_any_cache(world):
    people, scan = world
    clinician = people["clinician_consent"]
    consent = Consent.objects.get(grantee_user=clinician, is_current=True)
    end = timezone.now() + timedelta(hours=1)
    Consent.objects.filter(pk=consent.pk).update(end=end)
    assert decide(clinician, "view", scan, "TREAT", at=end - timedelta(seconds=1)).allowed
    assert decide(clinician, "view", scan, "TREAT", at=end).reason == "consent_expired"


def test_scope_filter_by_modality_and_date(world):
    people, scan = world
    alice = people["patient"]
    mr_scan, _, _ = make_scan(alice, modality="MR")
    clinician = ClinicianFactory()
    consent_grant(
        patient=alice,
        grantee_user=clinician,
        actions=["view"],
        purposes=["TREAT"],
        scope_kind="filter",
        scope_modality="MR",
    )
    assert decide(clinician, "view", mr_scan, "TREAT").allowed
    assert decide(clinician, "view", scan, "TREAT").reason == "out_of_scope"


def test_unknown_action_is_refused():
    assert decide(None, "delete", None).status_code == 400

"""`portal.access.authorize`: every decision is recorded, in one transaction, cheaply."""

import pytest
from django.db import connection

from ledger.models import PendingEvent
from portal.access import authorize
from portal.models import AccessEvent, Consent
from tests.factories import ClinicianFactory, PatientFactory
from tests.pg_trace import round_trips


@pytest.mark.django_db(transaction=True)  # real transactions: their BEGIN and COMMIT are counted
@pytest.mark.parametrize("granted", [True, False])
def test_a_decision_is_recorded_in_two_round_trips_on_postgresql(granted):
    """The policy's read, then ONE statement that writes the ledger's pending event, its
    opening and the access-history row, all or none without a BEGIN or COMMIT of its own
    (core.rows.insert_at_once; it was BEGIN, three INSERTs and COMMIT, 6 round trips)."""
    if connection.vendor != "postgresql":
        pytest.skip("round trips counted on PostgreSQL")
    patient, doc = PatientFactory(), ClinicianFactory()
    if granted:
        Consent.objects.create(
            patient=patient, grantee_user=doc, actions=["upload"], purposes=["TREAT"], policy_text="t",
            created_by=patient,
        )  # fmt: skip
    trips, decision = round_trips(lambda: authorize(actor=doc, action="upload", patient=patient))
    assert decision.allowed is granted
    assert trips == 2
    event = AccessEvent.objects.get(patient=patient)
    assert (event.allowed, event.action) == (granted, "upload")
    assert PendingEvent.objects.filter(event_id=event.ledger_event_id).exists()


@pytest.mark.django_db
def test_a_decision_inside_a_callers_transaction_is_undone_with_it():
    """Recorded inside an outer transaction, the rows commit or roll back with the caller's
    work (no COMMIT of its own)."""
    from django.db import transaction

    patient, doc = PatientFactory(), ClinicianFactory()
    with pytest.raises(RuntimeError), transaction.atomic():
        authorize(actor=doc, action="upload", patient=patient)
        assert AccessEvent.objects.filter(patient=patient).count() == 1
        raise RuntimeError("the caller fails afterwards")
    assert AccessEvent.objects.filter(patient=patient).count() == 0
    assert not PendingEvent.objects.exists()

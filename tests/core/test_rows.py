"""core.rows reads and writes the same rows as the ORM: every concrete field compared, on the
database of the run (PostgreSQL in `make test`, SQLite in the smoke run)."""

from __future__ import annotations

import uuid

import pytest
from django.db import IntegrityError, connection
from django.utils import timezone

from core.rows import Columns, Rows, insert, insert_at_once, prefetched, read_joined
from imaging.models import Scan, ScanObject
from ledger.models import EntryOpening, PendingEvent
from portal.consent_services import consent_grant
from portal.models import AccessEvent, Consent, User
from tests.api.conftest import stored_scan
from tests.factories import ClinicianFactory, PatientFactory

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]


def fields_of(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def test_rows_build_the_instances_the_orm_builds():
    patient = PatientFactory()
    scan, _ = stored_scan(patient)
    clinician = ClinicianFactory()
    consent = consent_grant(patient=patient, grantee_user=clinician, actions=["view"], purposes=["TREAT"])
    for model, where, params, value in [
        (Scan, '"id" = %s', ("id",), scan.id),
        (User, '"id" = %s', ("id",), patient.pk),
        (ScanObject, '"scan_id" = %s', ("scan_id",), scan.id),
        (Consent, '"patient_id" = %s', ("patient_id",), patient.pk),
    ]:
        got = Rows(model, where, params=params, order_by='"id"').fetch(value)
        column = params[0]
        want = list(model.objects.filter(**{column: value}).order_by("id"))
        assert got and [fields_of(o) for o in got] == [fields_of(o) for o in want], model.__name__
        assert all(not o._state.adding and o._state.db == "default" for o in got)
    assert Rows(Scan, '"id" = %s', params=("id",)).first(uuid.uuid4()) is None
    # instances behave as the ORM's: a lazy relation loads, save() updates the row
    read = Rows(Consent, '"id" = %s', params=("id",)).first(consent.pk)
    assert read.patient == patient
    read.save(update_fields=["purposes"])


def test_a_join_reads_each_tables_rows_once_as_the_orm_builds_them():
    """A scan joined to its objects (N) and its patient's consents (M) comes back N x M times;
    each part must still be its distinct rows, field for field the ORM's, and an outer join
    that finds nothing must give no instance."""
    patient = PatientFactory()
    scan, _ = stored_scan(patient)
    for _ in range(2):
        consent_grant(patient=patient, grantee_user=ClinicianFactory(), actions=["view"], purposes=["TREAT"])
    s, u, o, c = Columns(Scan, "s"), Columns(User, "u"), Columns(ScanObject, "o"), Columns(Consent, "c")
    sql = (
        f"SELECT {s.sql()}, {u.sql()}, {o.sql()}, {c.sql()} FROM {s.table()}"
        f' JOIN {u.table()} ON "u"."id" = "s"."patient_id"'
        f' LEFT JOIN {o.table()} ON "o"."scan_id" = "s"."id"'
        f' LEFT JOIN {c.table()} ON "c"."patient_id" = "s"."patient_id" AND "c"."version" = %s'
        ' WHERE "s"."id" = %s ORDER BY "o"."id", "c"."id"'
    )
    version = c.param("version", 1)
    scans, users, objects, consents = read_joined(sql, [version, s.param("id", scan.id)], [s, u, o, c])
    assert [fields_of(x) for x in scans] == [fields_of(Scan.objects.get(pk=scan.pk))]
    assert [fields_of(x) for x in users] == [fields_of(User.objects.get(pk=patient.pk))]
    want_objects = list(ScanObject.objects.filter(scan=scan).order_by("id"))
    assert len(want_objects) > 1 and [fields_of(x) for x in objects] == [fields_of(x) for x in want_objects]
    want_consents = list(Consent.objects.filter(patient=patient).order_by("id"))
    assert len(want_consents) == 2 and [fields_of(x) for x in consents] == [
        fields_of(x) for x in want_consents
    ]
    # nothing joined: the outer join's NULL columns build no consent
    none = read_joined(sql, [c.param("version", 99), s.param("id", scan.id)], [s, u, o, c])
    assert none[3] == [] and len(none[2]) == len(want_objects)
    assert read_joined(sql, [version, s.param("id", uuid.uuid4())], [s, u, o, c]) == [[], [], [], []]


def test_a_union_of_one_branch_per_table_reads_the_same_rows():
    """The same rows as the join above, read as a UNION ALL whose branches leave the other
    tables' columns NULL (typed, on PostgreSQL): each row comes back once."""
    patient = PatientFactory()
    scan, _ = stored_scan(patient)
    consent_grant(patient=patient, grantee_user=ClinicianFactory(), actions=["view"], purposes=["TREAT"])
    s, u, o, c = Columns(Scan, "s"), Columns(User, "u"), Columns(ScanObject, "o"), Columns(Consent, "c")
    parts = [s, u, o, c]

    def select(*mine):
        return ", ".join(p.sql() if p in mine else p.nulls() for p in parts)

    sql = (
        f'SELECT {select(s, u)} FROM {s.table()} JOIN {u.table()} ON "u"."id" = "s"."patient_id" WHERE "s"."id" = %s'
        f' UNION ALL SELECT {select(o)} FROM {o.table()} WHERE "o"."scan_id" = %s'
        f' UNION ALL SELECT {select(c)} FROM {c.table()} WHERE "c"."patient_id" = %s'
    )
    sid = s.param("id", scan.id)
    with connection.cursor() as cursor:
        cursor.execute(sql, [sid, sid, c.param("patient_id", patient.pk)])
        assert len(cursor.fetchall()) == 1 + ScanObject.objects.filter(scan=scan).count() + 1
    scans, users, objects, consents = read_joined(sql, [sid, sid, c.param("patient_id", patient.pk)], parts)
    assert [fields_of(x) for x in scans] == [fields_of(Scan.objects.get(pk=scan.pk))]
    assert [fields_of(x) for x in users] == [fields_of(User.objects.get(pk=patient.pk))]
    assert sorted(x.pk for x in objects) == sorted(
        ScanObject.objects.filter(scan=scan).values_list("pk", flat=True)
    )
    assert [fields_of(x) for x in consents] == [fields_of(x) for x in Consent.objects.filter(patient=patient)]


def test_a_placeholder_without_its_field_is_refused():
    with pytest.raises(ValueError, match="placeholder"):
        Rows(Scan, '"id" = %s AND "status" = %s', params=("id",))


def test_prefetched_rows_are_what_the_relation_answers(django_assert_num_queries):
    scan, _ = stored_scan(PatientFactory())
    fresh = Scan.objects.get(pk=scan.pk)
    rows = list(ScanObject.objects.filter(scan=fresh))
    prefetched(fresh, "blobs", rows)
    with django_assert_num_queries(0):
        assert list(fresh.blobs.all()) == rows


def test_insert_writes_the_row_save_would_write():
    patient = PatientFactory()
    event = AccessEvent(
        at=timezone.now(),
        actor=None,
        patient=patient,
        scan_id=uuid.uuid4(),
        action="view",
        purpose="TREAT",
        allowed=False,
        reason="no_consent",
    )
    pending = PendingEvent(event_id=uuid.uuid4(), event_type="scan.accessed", payload="{}", fingerprints=None)
    opening = EntryOpening(event_id=pending.event_id, event_type="scan.accessed", subject="x", openings="{}")
    insert([event, pending, opening])
    assert pending.pk is not None and opening.pk is not None  # serial ids come back from the database
    assert pending.created_at is not None  # auto_now_add, as save() sets it
    for obj in (event, pending, opening):
        assert fields_of(type(obj).objects.get(pk=obj.pk)) == fields_of(obj)
        assert not obj._state.adding
    with pytest.raises(ValueError, match="serial id"):
        insert([PendingEvent(pk=pending.pk + 1000, event_id=uuid.uuid4(), event_type="x", payload="{}")])


def _access_event(patient, event_id=None):
    return AccessEvent(
        at=timezone.now(),
        actor=None,
        patient=patient,
        scan_id=None,
        action="view",
        purpose="TREAT",
        allowed=False,
        reason="no_consent",
        ledger_event_id=event_id,
    )


def test_insert_at_once_writes_every_row_as_save_would(django_assert_max_num_queries):
    patient = PatientFactory()
    eid = uuid.uuid4()
    pending = PendingEvent(event_id=eid, event_type="scan.accessed", payload="{}")
    opening = EntryOpening(event_id=eid, event_type="scan.accessed", subject="s", openings="{}")
    event = _access_event(patient, eid)
    with django_assert_max_num_queries(1 if connection.vendor == "postgresql" else 3):
        insert_at_once([pending, opening, event])
    assert pending.pk is not None and opening.pk is not None
    for obj in (pending, opening, event):
        assert fields_of(type(obj).objects.get(pk=obj.pk)) == fields_of(obj)


@pytest.mark.django_db(transaction=True)
def test_insert_at_once_outside_a_transaction_writes_all_or_none():
    patient = PatientFactory()
    taken = uuid.uuid4()
    insert_at_once([PendingEvent(event_id=taken, event_type="x", payload="{}"), _access_event(patient)])
    before = AccessEvent.objects.count(), PendingEvent.objects.count()
    # the second row breaks a unique constraint: the first must not stay behind
    with pytest.raises(IntegrityError):
        insert_at_once([_access_event(patient), PendingEvent(event_id=taken, event_type="x", payload="{}")])
    assert (AccessEvent.objects.count(), PendingEvent.objects.count()) == before

"""`portal.db_batch`: statements sent together (PostgreSQL pipeline mode) or one after
another (SQLite), with the same results, errors and transactions either way."""

import uuid

import psycopg
import pytest
from django.db import IntegrityError, connection, transaction

from ledger.models import PendingEvent
from portal import db_batch
from portal.models import User, WrappedKey
from tests.factories import PatientFactory
from tests.pg_trace import round_trips

pytestmark = pytest.mark.django_db


@pytest.fixture
def patient(db):
    return PatientFactory()


def _pending(event_id=None) -> PendingEvent:
    return PendingEvent(event_id=event_id or uuid.uuid4(), event_type="scan.accessed", payload="{}")


@pytest.mark.smoke
def test_results_are_read_after_the_batch_as_the_orm_reads_them(patient):
    with db_batch.batch():
        raw = db_batch.send("SELECT 1 + 1")
        users = db_batch.send_query(
            User.objects.filter(pk=patient.pk).values_list("pk", "date_joined", "role")
        )
        none = db_batch.send_query(User.objects.filter(pk=uuid.uuid4()).values_list("pk"))
    assert raw.row() == (2,)
    assert users.rows() == list(User.objects.filter(pk=patient.pk).values_list("pk", "date_joined", "role"))
    assert none.row() is None


@pytest.mark.smoke
def test_a_query_that_matches_nothing_by_construction_gives_no_rows(patient):
    with db_batch.batch():  # the ORM sends nothing for pk__in=[]; neither does send_query
        nothing = db_batch.send_query(User.objects.filter(pk__in=[]).values_list("pk"))
        after = db_batch.send_query(User.objects.filter(pk=patient.pk).values_list("pk"))
    assert nothing.rows() == [] and nothing.row() is None
    assert after.row() == (patient.pk,)


@pytest.mark.smoke
def test_insert_writes_every_row_without_reading_ids_back(patient):
    events = [_pending(), _pending()]
    obj = uuid.uuid4()
    with db_batch.batch():
        db_batch.insert(PendingEvent, events)
        db_batch.insert(WrappedKey, [WrappedKey(object_id=obj, patient=patient, reader=None, wrapped=b"w")])
    assert all(e.pk is None for e in events)  # not read back: that would cost a round trip
    stored = PendingEvent.objects.filter(event_id__in=[e.event_id for e in events])
    assert stored.count() == 2 and all(e.created_at is not None for e in stored)  # auto_now_add
    assert WrappedKey.objects.get(object_id=obj).patient_id == patient.pk


@pytest.mark.smoke
def test_an_error_in_a_batch_is_raised_and_rolls_its_transaction_back(patient):
    twice = uuid.uuid4()
    kept = uuid.uuid4()
    with pytest.raises(IntegrityError), transaction.atomic():  # Django's error, not psycopg's
        with db_batch.batch():
            db_batch.insert(PendingEvent, [_pending(kept)])
            db_batch.insert(PendingEvent, [_pending(twice)])
            db_batch.insert(PendingEvent, [_pending(twice)])  # unique event_id
    assert not PendingEvent.objects.filter(event_id__in=[twice, kept]).exists()
    with db_batch.batch():  # the connection is usable again
        again = db_batch.send("SELECT 1")
    assert again.row() == (1,)


def test_a_batch_is_one_round_trip_on_postgresql(patient):
    if connection.vendor != "postgresql":
        pytest.skip("pipeline mode is PostgreSQL's")

    def batched():
        with db_batch.batch():
            sent = [
                db_batch.send_query(User.objects.filter(pk=patient.pk).values_list("pk")) for _ in range(3)
            ]
            db_batch.insert(PendingEvent, [_pending()])
        return [s.row() for s in sent]

    def one_by_one():
        return [User.objects.filter(pk=patient.pk).values_list("pk").first() for _ in range(3)]

    trips, rows = round_trips(batched)
    assert rows == [(patient.pk,)] * 3
    assert trips == 1
    # one each, and the first time a statement is prepared (settings: DB_PREPARE_THRESHOLD)
    # psycopg outside a batch waits for its Parse too
    assert round_trips(one_by_one)[0] >= 3


@pytest.mark.django_db(transaction=True)
def test_a_dropped_connection_is_replaced_before_a_batch_is_sent():
    """The per-task health check must run before pipeline mode, where its SELECT 1 would be
    queued and never read: otherwise the batch goes to a dead connection."""
    if connection.vendor != "postgresql":
        pytest.skip("pipeline mode is PostgreSQL's")
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    params = connection.get_connection_params()
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])
    connection.health_check_done = False  # as at the start of a task or request
    with db_batch.batch():
        sent = db_batch.send("SELECT pg_backend_pid()")
    assert sent.row()[0] != pid


def _committed(event_ids) -> int:
    """How many of `event_ids` another connection sees (committed rows only)."""
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
        return other.execute(
            "SELECT count(*) FROM ledger_pendingevent WHERE event_id = ANY(%s)", [list(event_ids)]
        ).fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_last_batch_sends_the_commit_with_the_transactions_last_statements():
    if connection.vendor != "postgresql":
        pytest.skip("pipeline mode is PostgreSQL's")
    ids = [uuid.uuid4(), uuid.uuid4()]

    def transaction_of_two_batches():
        with transaction.atomic():
            with db_batch.batch():
                db_batch.insert(PendingEvent, [_pending(ids[0])])
            with db_batch.last_batch():
                db_batch.insert(PendingEvent, [_pending(ids[1])])
            assert _committed(ids) == 2  # committed when the batch ended, before the block's end

    trips, _ = round_trips(transaction_of_two_batches)
    assert trips == 3  # BEGIN, the first batch, the last batch with the COMMIT
    assert _committed(ids) == 2
    with db_batch.batch():  # the connection goes on normally
        again = db_batch.send("SELECT 1")
    assert again.row() == (1,)


@pytest.mark.smoke
@pytest.mark.django_db(transaction=True)
def test_an_error_in_the_last_batch_rolls_the_whole_transaction_back():
    kept, twice = uuid.uuid4(), uuid.uuid4()
    with pytest.raises(IntegrityError), transaction.atomic():
        with db_batch.batch():
            db_batch.insert(PendingEvent, [_pending(kept)])
        with db_batch.last_batch():
            db_batch.insert(PendingEvent, [_pending(twice)])
            db_batch.insert(PendingEvent, [_pending(twice)])  # unique event_id: the COMMIT is not run
    assert not PendingEvent.objects.filter(event_id__in=[kept, twice]).exists()
    assert not connection.in_atomic_block
    PendingEvent.objects.create(event_id=uuid.uuid4(), event_type="scan.accessed", payload="{}")


@pytest.mark.smoke
@pytest.mark.django_db(transaction=True)
def test_last_batch_inside_a_callers_transaction_does_not_commit_it():
    """Only the outermost block's transaction may be committed early: a nested block's last
    batch must leave the caller's transaction open (and able to roll back)."""
    inner = uuid.uuid4()
    with pytest.raises(RuntimeError), transaction.atomic():
        with transaction.atomic():  # a savepoint
            with db_batch.last_batch():
                db_batch.insert(PendingEvent, [_pending(inner)])
        with transaction.atomic(savepoint=False):
            with db_batch.last_batch():
                db_batch.insert(PendingEvent, [_pending()])
        raise RuntimeError("the caller fails after the nested blocks")
    assert not PendingEvent.objects.filter(event_id=inner).exists()
    assert PendingEvent.objects.count() == 0


def _keys_of(patient_id):
    return WrappedKey.objects.filter(patient_id=patient_id).values_list("object_id", "wrapped", "created_at")


@pytest.mark.smoke
def test_a_template_is_compiled_once_and_gives_what_the_orm_gives(patient, monkeypatch):
    from django.db.models.sql.compiler import SQLCompiler

    other = PatientFactory()
    for owner in (patient, other, patient):
        WrappedKey.objects.create(object_id=uuid.uuid4(), patient=owner, reader=None, wrapped=b"w")
    template = db_batch.Template(_keys_of)
    compiled = []
    real = SQLCompiler.as_sql
    monkeypatch.setattr(
        SQLCompiler, "as_sql", lambda self, *a, **kw: compiled.append(1) or real(self, *a, **kw)
    )
    for owner in (patient, other, patient, PatientFactory()):
        with db_batch.batch():
            sent = template.send(patient_id=owner.pk)
            also = template.send(patient_id=str(owner.pk))  # a UUID given as text
        monkeypatch.setattr(SQLCompiler, "as_sql", real)
        expected = sorted(_keys_of(owner.pk))
        monkeypatch.setattr(
            SQLCompiler, "as_sql", lambda self, *a, **kw: compiled.append(1) or real(self, *a, **kw)
        )
        assert sorted(sent.rows()) == sorted(also.rows()) == expected  # converters applied (datetimes)
    assert len(compiled) == 1  # the first send compiled it; the 7 others reused it


def test_a_template_whose_parameters_it_cannot_find_compiles_each_time(patient):
    # a value that is not a UUID (here a role) is not looked for: the template then behaves
    # as send_query does, right results included
    template = db_batch.Template(lambda role: User.objects.filter(role=role).values_list("pk"))
    for _ in range(2):
        with db_batch.batch():
            sent = template.send(role="patient")
        assert (patient.pk,) in sent.rows()


def test_a_template_does_not_reuse_sql_where_a_value_is_also_used_in_another_form(patient):
    template = db_batch.Template(
        lambda pk: User.objects.filter(pk=pk, username__startswith=str(pk)).values_list("pk")
    )
    for user in (patient, PatientFactory()):
        user.username = f"{user.pk}-x"
        user.save(update_fields=["username"])
        with db_batch.batch():
            sent = template.send(pk=user.pk)
        assert sent.rows() == [(user.pk,)]


def test_a_template_takes_times_too_and_puts_each_where_it_belongs(patient, monkeypatch):
    """A time and an id, the time used twice: every send gets the rows of its own values
    (a slot left with the first compile's value, or two values swapped, would show)."""
    from datetime import timedelta

    from django.db.models.sql.compiler import SQLCompiler
    from django.utils import timezone

    from portal.models import BreakGlass

    now = timezone.now()
    other = PatientFactory()
    for owner, hours in ((patient, 1), (patient, 3), (other, 2)):
        BreakGlass.objects.create(
            clinician=other, patient=owner, reason="r", started_at=now + timedelta(hours=hours - 1),
            expires_at=now + timedelta(hours=hours),
        )  # fmt: skip

    def active(patient_id, at):
        return BreakGlass.objects.filter(
            patient_id=patient_id, started_at__lte=at, expires_at__gt=at
        ).values_list("expires_at")

    template = db_batch.Template(active)
    compiled = []
    real = SQLCompiler.as_sql
    cases = ((patient, 0.5, 1), (patient, 2.5, 1), (other, 1.5, 1), (other, 0.5, 0), (patient, 5, 0))
    for owner, hours, count in cases:
        at = now + timedelta(hours=hours)
        expected = list(active(owner.pk, at))
        monkeypatch.setattr(
            SQLCompiler, "as_sql", lambda self, *a, **kw: compiled.append(1) or real(self, *a, **kw)
        )
        with db_batch.batch():
            sent = template.send(patient_id=owner.pk, at=at)
        monkeypatch.setattr(SQLCompiler, "as_sql", real)
        assert sent.rows() == expected
        assert len(expected) == count  # the windows do not overlap
    # compiled once on PostgreSQL; SQLite binds times as text, which the template does not
    # look for: there, once to look for the values, then on every send (as send_query does)
    assert len(compiled) == (1 if connection.vendor == "postgresql" else 1 + len(cases))


@pytest.mark.filterwarnings("ignore:DateTimeField User.date_joined received a naive datetime")
def test_a_naive_time_is_not_templated(patient, monkeypatch):
    """Its meaning depends on the time zone it is read in: it is compiled on every send
    (never as the marker an aware time would be), with the ORM's results."""
    from datetime import datetime

    from django.db.models.sql.compiler import SQLCompiler

    compiled = []
    real = SQLCompiler.as_sql
    monkeypatch.setattr(
        SQLCompiler, "as_sql", lambda self, *a, **kw: compiled.append(1) or real(self, *a, **kw)
    )
    template = db_batch.Template(lambda at: User.objects.filter(date_joined__lte=at).values_list("pk"))
    for year in (2100, 1900):
        with db_batch.batch():
            sent = template.send(at=datetime(year, 1, 1))  # noqa: DTZ001 (what the test is about)
        assert ((patient.pk,) in sent.rows()) is (year == 2100)
    assert len(compiled) == 2


def test_rows_read_twice_are_the_same_rows(patient):
    with db_batch.batch():
        sent = db_batch.send_query(User.objects.filter(pk=patient.pk).values_list("pk", "date_joined"))
    first = sent.rows()
    assert first == [(patient.pk, patient.date_joined)]
    assert sent.rows() == first and sent.row() == first[0]

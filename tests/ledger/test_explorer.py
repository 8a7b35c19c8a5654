"""The ledger explorer (ledger/explorer_views.py) over HTTP: checkpoints, entries filtered by
type and date with pagination, one entry with a checked inclusion proof, and "verify now"
(started by an auditor, run by the worker's task function, polled as JSON)."""

import re

import pytest
from django.urls import reverse

from ledger import verify_jobs
from ledger.models import Entry
from tests.factories import AuditorFactory, ClinicianFactory, PatientFactory, login_verified

pytestmark = pytest.mark.django_db


def test_explorer_lists_checkpoints_and_filters_entries(client, seeded):
    page = client.get(reverse("ledger:explorer"))
    html = page.content.decode()
    assert page.status_code == 200
    assert "12 entries</td>" in html  # the final checkpoint, newest first
    assert len(re.findall(r'href="/ledger/explorer/entries/\d+/"', html)) == 12
    one_type = Entry.objects.values_list("event_type", flat=True).first()
    n = Entry.objects.filter(event_type=one_type).count()
    filtered = client.get(reverse("ledger:explorer"), {"type": one_type}).content.decode()
    assert len(re.findall(r'href="/ledger/explorer/entries/\d+/"', filtered)) == n < 12
    # a day after every entry: nothing; a malformed date is ignored, not a 500
    assert (
        "No entries match."
        in client.get(reverse("ledger:explorer"), {"since": "2999-01-01"}).content.decode()
    )
    assert client.get(reverse("ledger:explorer"), {"since": "yesterday", "type": "<x>"}).status_code == 200


def test_explorer_paginates(client, seeded, monkeypatch):
    from ledger import explorer_views

    monkeypatch.setattr(explorer_views, "PER_PAGE", 5)
    first = client.get(reverse("ledger:explorer")).content.decode()
    assert "Page 1 of 3" in first and 'href="/ledger/explorer/entries/11/"' in first
    third = client.get(reverse("ledger:explorer"), {"page": "3"}).content.decode()
    assert "Page 3 of 3" in third and 'href="/ledger/explorer/entries/0/"' in third
    assert 'href="/ledger/explorer/entries/11/"' not in third


def test_entry_page_shows_a_checked_inclusion_proof(client, seeded):
    html = client.get(reverse("ledger:entry", args=[3])).content.decode()
    assert 'id="proof-badge">Included<' in html and "checkpoint of 12 entries" in html
    assert client.get(reverse("ledger:entry", args=[99])).status_code == 404


def test_entry_not_yet_in_a_checkpoint(client, seeded):
    from ledger.demo import demo_payload
    from ledger.services import append_all, record_event

    t, p = demo_payload(20)
    record_event(event_type=t, payload=p)
    append_all()
    html = client.get(reverse("ledger:entry", args=[12])).content.decode()
    assert "Not yet in a checkpoint" in html


def test_verify_now_for_auditors_with_progress(
    client, seeded, django_capture_on_commit_callbacks, monkeypatch
):
    sent = []
    monkeypatch.setattr("celery.current_app.send_task", lambda name, args: sent.append((name, args)))
    for user in (PatientFactory(), ClinicianFactory()):
        login_verified(client, user)
        assert client.post(reverse("ledger:verify")).status_code == 403
        assert client.get(reverse("ledger:verify-status", args=["0" * 32])).status_code == 403
    login_verified(client, AuditorFactory())
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(reverse("ledger:verify"), HTTP_ACCEPT="application/json")
    assert started.status_code == 202
    job = started.json()["job"]
    assert sent == [("ledger.verify_now", [job])]
    queued = client.get(started.json()["status_url"]).json()
    assert queued["state"] == "queued" and queued["total"] == 12
    # a second click while it is queued returns the same job
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(reverse("ledger:verify"), HTTP_ACCEPT="application/json").json()["job"] == job
    report = verify_jobs.run(job)  # what the worker's task does
    assert report["ok"] and report["entries"] == 12
    done = client.get(reverse("ledger:verify-status", args=[job])).json()
    assert done["state"] == "done" and done["percent"] == 100 and done["done"] == 12
    page = client.get(reverse("ledger:explorer")).content.decode()
    assert 'id="verify-last"' in page and "passed" in page
    assert client.get(reverse("ledger:verify-status", args=["not-a-job"])).status_code == 404


def test_verify_reports_progress_and_failure(seeded):
    from ledger.verification import verify_database

    calls = []
    report = verify_database(chunk=5, progress=calls.append)
    assert report["ok"] and calls == [5, 10]
    from tests.ledger.test_verify import tamper_sql

    tamper_sql("UPDATE ledger_entry SET payload = %s WHERE index = 7", ['{"x":1}'])
    st_job = "f" * 32
    verify_jobs.run(st_job)
    st = verify_jobs.status(st_job)
    assert st["state"] == "failed" and st["report"]["failure"]["index"] == 7

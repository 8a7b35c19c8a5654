"""Query budgets of the authorized read path (GET /api/v1/scans/<id> and the list), with a
client-credentials token, as a hospital integration reads: budgets like the round-trip
budgets, so that an N+1 or a per-request lookup that creeps back in fails here. And the
per-process token cache behind them never outlives a revocation."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from oauth2_provider.models import AccessToken, Application

from portal.api_client_services import api_client_deactivate
from portal.consent_services import consent_grant
from portal.models import AccessEvent
from tests.api.conftest import ALL_READ_SCOPES, fetch_token, register_client, stored_scan
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

# an authorized detail read: ONE read (the scan joined to its patient, its objects and the
# consents the policy reads: imaging.api_selectors.scan_for_detail) and ONE write (ledger
# pending row + private opening + access history: core.rows.insert_at_once on PostgreSQL)
DETAIL_BUDGET = 2
# the list: token-independent fixed part (candidate patients, the scans) + per patient (its
# consents, once, and the recorded `list` decision); nothing per scan
LIST_FIXED, LIST_PER_PATIENT = 2, 6


@pytest.fixture
def reader(client, settings):
    """An API client with consent from three patients, two scans each."""
    settings.API_TOKEN_CACHE_SECONDS = 30
    client_id, secret, service_user = register_client("Northside PACS")
    patients, scans = [], []
    for _ in range(3):
        patient = PatientFactory()
        consent_grant(
            patient=patient, grantee_user=service_user, actions=["view", "download"], purposes=["TREAT"]
        )
        patients.append(patient)
        scans += [stored_scan(patient)[0] for _ in range(2)]
    token = fetch_token(client, client_id, secret, ALL_READ_SCOPES)
    return patients, scans, {"HTTP_AUTHORIZATION": f"Bearer {token}"}, service_user


def _queries(client, url, bearer) -> list[str]:
    client.get(url, **bearer)  # warm: per-process caches (keys, the token row) as a running server has them
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, **bearer)
    assert response.status_code == 200, response.content
    return [q["sql"] for q in ctx.captured_queries]


def test_authorized_detail_read_stays_within_its_query_budget(client, reader, monkeypatch):
    _, scans, bearer, service_user = reader
    # other test processes sharing the cache server save users and tokens, which (rightly)
    # drops every process's cached token rows; here only this process's own changes count
    from portal import api_client_selectors

    monkeypatch.setattr(api_client_selectors, "_generation", lambda: 0)
    sqls = _queries(client, f"/api/v1/scans/{scans[0].id}", bearer)
    assert len(sqls) <= DETAIL_BUDGET, "\n".join(s[:160] for s in sqls)
    assert not [s for s in sqls if "oauth2_provider_accesstoken" in s]  # the token row is cached
    assert sum("portal_consent" in s and s.startswith("SELECT") for s in sqls) == 1
    # the product is still there: the access is recorded, its three rows in one statement
    (write,) = [s for s in sqls if "INSERT" in s]
    assert write.startswith("WITH") and write.count("INSERT INTO") == 3
    for table in ("ledger_pendingevent", "ledger_entryopening", "portal_accessevent"):
        assert f'"{table}"' in write
    assert AccessEvent.objects.filter(actor=service_user, scan_id=scans[0].id, action="view").count() == 2


def test_list_reads_each_patient_once_and_nothing_per_scan(client, reader):
    patients, _, bearer, _ = reader
    sqls = _queries(client, "/api/v1/scans", bearer)
    assert len(sqls) <= LIST_FIXED + LIST_PER_PATIENT * 3, "\n".join(s[:160] for s in sqls)
    for patient in patients:  # more scans per patient: not one query more
        stored_scan(patient)
        stored_scan(patient)
    more = _queries(client, "/api/v1/scans", bearer)
    assert len(more) == len(sqls), "\n".join(s[:160] for s in more)
    assert client.get("/api/v1/scans", **bearer).json()["count"] == 12


def test_a_revoked_token_is_refused_at_once_despite_the_cache(client, reader):
    _, scans, bearer, service_user = reader
    url = f"/api/v1/scans/{scans[0].id}"
    assert client.get(url, **bearer).status_code == 200  # cached now
    AccessToken.objects.all().delete()
    assert client.get(url, **bearer).status_code == 401


def test_a_deactivated_client_is_refused_at_once_despite_the_cache(client, reader, settings):
    _, scans, bearer, service_user = reader
    url = f"/api/v1/scans/{scans[0].id}"
    assert client.get(url, **bearer).status_code == 200
    api_client_deactivate(application=Application.objects.get(user=service_user))
    assert client.get(url, **bearer).status_code == 401


def test_a_deactivated_service_account_is_refused_at_once_despite_the_cache(client, reader):
    _, scans, bearer, service_user = reader
    url = f"/api/v1/scans/{scans[0].id}"
    assert client.get(url, **bearer).status_code == 200
    service_user.is_active = False
    service_user.save(update_fields=["is_active"])
    assert client.get(url, **bearer).status_code == 401


def test_a_revocation_in_another_process_reaches_this_one_within_the_poll(client, reader):
    """Another process deletes the token and bumps the shared generation; this process's kept
    row is trusted for at most GENERATION_POLL_SECONDS more."""
    import time

    from django.core.cache import cache

    from portal import api_client_selectors

    _, scans, bearer, _ = reader
    url = f"/api/v1/scans/{scans[0].id}"
    assert client.get(url, **bearer).status_code == 200  # kept now
    with connection.cursor() as cursor:  # as another process would: no signal reaches this one
        cursor.execute("DELETE FROM oauth2_provider_accesstoken")
    cache.set(api_client_selectors.TOKEN_GENERATION_KEY, time.time_ns(), None)
    time.sleep(api_client_selectors.GENERATION_POLL_SECONDS + 0.01)
    assert client.get(url, **bearer).status_code == 401

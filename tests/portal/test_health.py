import pytest
from django.db import connection


@pytest.mark.smoke
@pytest.mark.django_db
def test_healthz_reports_each_dependency(client):
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["database"] == body["broker"] == body["storage"] == "ok"


@pytest.mark.django_db
def test_healthz_is_503_when_database_is_unreachable(client, monkeypatch):
    monkeypatch.setitem(connection.settings_dict, "PORT", "1")  # nothing listens there
    monkeypatch.setitem(connection.settings_dict, "NAME", "/nonexistent/dir/db.sqlite3")
    connection.close()
    try:
        response = client.get("/healthz")
    finally:
        connection.close()
    assert response.status_code == 503
    assert response.json()["database"].startswith("down")


@pytest.mark.django_db
def test_healthz_is_503_when_broker_is_unreachable(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"].startswith("down")


@pytest.mark.django_db
def test_liveness_touches_no_dependency(client, monkeypatch, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    monkeypatch.setitem(connection.settings_dict, "NAME", "/nonexistent/dir/db.sqlite3")
    monkeypatch.setitem(connection.settings_dict, "PORT", "1")
    connection.close()
    try:
        live = client.get("/healthz/live")
        ready = client.get("/healthz/ready")
    finally:
        connection.close()
    assert live.status_code == 200 and live.json() == {"status": "ok"}
    assert ready.status_code == 503
    assert ready.json()["database"].startswith("down") and ready.json()["broker"].startswith("down")


@pytest.mark.django_db
def test_readiness_reports_each_dependency_like_healthz(client):
    response = client.get("/healthz/ready")
    body = response.json()
    assert response.status_code == 200, body
    assert body["database"] == body["broker"] == body["storage"] == "ok"

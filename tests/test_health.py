"""/healthz reports the database and the broker; 503 when one is down."""

import pytest


@pytest.mark.django_db
def test_healthz_reports_ok_when_database_and_broker_answer(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_healthz_answers_503_when_the_broker_is_down(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"] == "down"


@pytest.mark.django_db
def test_healthz_answers_503_when_the_database_is_down(client, monkeypatch):
    from config import health

    monkeypatch.setattr(health, "_database_status", lambda: "down")
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["database"] == "down"


@pytest.mark.django_db
def test_embedded_mode_reports_eager_tasks(client, settings):
    settings.REDIS_URL = ""
    assert client.get("/healthz").json()["broker"] == "eager"

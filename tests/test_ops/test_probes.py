"""/healthz, /readyz and /metrics through the whole middleware chain."""

from __future__ import annotations

import pytest
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from accounts.models import AuditEvent
from ops import views
from ops.models import WorkerHeartbeat

TOKEN = "m" * 40


def test_healthz_answers_any_host_over_http_without_touching_the_database(client, settings):
    # No django_db mark: any query would raise.
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/healthz", HTTP_HOST="10.1.2.3:8000")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_readyz_tells_anyone_only_each_checks_status(client, app_provider, settings):
    settings.KARMO_METRICS_TOKEN = TOKEN
    for authorization in ({}, {"HTTP_AUTHORIZATION": "Bearer wrong"}):
        response = client.get("/readyz", **authorization)
        assert response.status_code == 200
        assert response.json() == {
            "status": "ok",
            "checks": {
                "database": {"status": "ok"},
                "migrations": {"status": "ok"},
                "tasks": {"status": "warn"},
                "provider": {"status": "ok"},
            },
        }
    assert "workos" not in response.content.decode()


@pytest.mark.django_db
def test_readyz_reports_each_check_and_warns_without_workers(client, app_provider, settings):
    settings.KARMO_METRICS_TOKEN = TOKEN
    response = client.get("/readyz", HTTP_HOST="10.1.2.3", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    checks = response.json()["checks"]
    assert {name: c["status"] for name, c in checks.items()} == {
        "database": "ok",
        "migrations": "ok",
        "tasks": "warn",
        "provider": "ok",
    }
    assert checks["tasks"]["detail"] == "0 worker(s) alive, 0 task(s) waiting"
    assert AuditEvent.objects.count() == 0


@pytest.mark.django_db
def test_readyz_counts_only_fresh_workers(client, settings):
    now = timezone.now()
    WorkerHeartbeat.objects.create(
        worker_id="alive", hostname="h", pid=1, started_at=now, seen_at=now
    )
    WorkerHeartbeat.objects.create(
        worker_id="dead",
        hostname="h",
        pid=2,
        started_at=now,
        seen_at=now - timezone.timedelta(seconds=settings.KARMO_WORKER_STALE_SECONDS + 1),
    )
    settings.KARMO_METRICS_TOKEN = TOKEN
    tasks = client.get("/readyz", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").json()["checks"]["tasks"]
    assert tasks["status"] == "ok"
    assert tasks["detail"].startswith("1 worker(s) alive")


@pytest.fixture(autouse=True)
def fresh_probe_memory(monkeypatch):
    monkeypatch.setattr(views, "_provider_checked", None)


@pytest.mark.django_db
def test_readyz_is_503_when_the_provider_is_not_configured(client, settings):
    settings.KARMO_PROVIDER = "workos"
    settings.WORKOS_API_KEY = ""
    settings.KARMO_METRICS_TOKEN = TOKEN
    assert client.get("/readyz").json()["checks"]["provider"] == {"status": "fail"}
    response = client.get("/readyz", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["provider"] == {
        "status": "fail",
        "detail": "workos: WORKOS_API_KEY is not set",
        "ms": body["checks"]["provider"]["ms"],
    }


@pytest.mark.django_db
def test_readyz_is_503_while_a_migration_is_missing(client, monkeypatch, settings):
    monkeypatch.setattr(views, "_migrations_applied", False)
    MigrationRecorder.Migration.objects.filter(app="ops", name="0001_initial").delete()
    settings.KARMO_METRICS_TOKEN = TOKEN
    response = client.get("/readyz", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 503
    assert response.json()["checks"]["migrations"]["detail"] == "1 migration(s) not applied"


def test_metrics_are_off_without_a_token(client, settings):
    settings.KARMO_METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 404


@pytest.mark.django_db
def test_metrics_refuse_a_wrong_or_missing_token(client, settings):
    settings.KARMO_METRICS_TOKEN = TOKEN
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer " + "n" * 40)
    assert wrong.status_code == 401
    assert wrong["WWW-Authenticate"] == 'Bearer realm="metrics"'

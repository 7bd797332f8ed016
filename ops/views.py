"""Liveness, readiness and metrics: unauthenticated probes (metrics need the token)."""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST

from ops.metrics import exposition

Check = Callable[[], tuple[str, str]]
OK, WARN, FAIL = "ok", "warn", "fail"
_migrations_applied = False  # once true it stays true for this process: no graph walk per probe
PROVIDER_RECHECK_SECONDS = 30.0
_provider_checked: tuple[float, tuple[str, str]] | None = None


def healthz(request: HttpRequest) -> HttpResponse:
    """The process answers; touches nothing else, so a database outage does not restart it."""
    return JsonResponse({"status": OK}, headers={"Cache-Control": "no-store"})


def _database() -> tuple[str, str]:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")
    return OK, "reachable"


def _migrations() -> tuple[str, str]:
    global _migrations_applied
    if not _migrations_applied:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if plan:
            return FAIL, f"{len(plan)} migration(s) not applied"
        _migrations_applied = True
    return OK, "all applied"


def _tasks() -> tuple[str, str]:
    from django_tasks_db.models import DBTaskResult

    from ops.workers import fresh_workers

    ready = DBTaskResult.objects.ready().count()
    workers = fresh_workers().count()
    # No worker is a warning, not a failure: web processes still serve without one.
    return (OK if workers else WARN), f"{workers} worker(s) alive, {ready} task(s) waiting"


def _provider() -> tuple[str, str]:
    from providers.registry import provider_status

    global _provider_checked
    now = time.monotonic()
    if _provider_checked is None or now - _provider_checked[0] > PROVIDER_RECHECK_SECONDS:
        status = provider_status()  # builds the adapter: cheap for HTTP ones, not for the sandbox
        verdict = (
            (OK, status.name) if status.configured else (FAIL, f"{status.name}: {status.reason}")
        )
        _provider_checked = (now, verdict)
    return _provider_checked[1]


CHECKS: dict[str, Check] = {
    "database": _database,
    "migrations": _migrations,
    "tasks": _tasks,
    "provider": _provider,
}


def _has_metrics_token(request: HttpRequest) -> bool:
    expected = settings.KARMO_METRICS_TOKEN
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def readyz(request: HttpRequest) -> HttpResponse:
    """Each check's status; 503 when any check fails.

    Anyone reaching the port gets ok/warn/fail per check, all a load balancer needs. The
    details (provider name and why it is not configured, worker and task counts, exception
    names, timings) tell an outsider what runs here, so they need the metrics token.
    """
    detailed = _has_metrics_token(request)
    results = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            status, detail = check()
        except Exception as exc:  # a probe reports, never raises
            status, detail = FAIL, type(exc).__name__
        results[name] = {"status": status}
        if detailed:
            results[name] |= {
                "detail": detail,
                "ms": round((time.perf_counter() - started) * 1000, 1),
            }
    ready = all(r["status"] != FAIL for r in results.values())
    return JsonResponse(
        {"status": OK if ready else FAIL, "checks": results},
        status=200 if ready else 503,
        headers={"Cache-Control": "no-store"},
    )


def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition for `Authorization: Bearer KARMO_METRICS_TOKEN`; 404 when unset."""
    if not settings.KARMO_METRICS_TOKEN:
        return HttpResponse(status=404)
    if not _has_metrics_token(request):
        return HttpResponse(status=401, headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)

"""Prometheus metrics: per-process request figures plus state read from the database at scrape.

Request and provider figures live in each process; under gunicorn they are shared through
prometheus-client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR). Queue depth, audit growth,
sync runs and worker liveness are read from the database when scraped, so any web process
answers for the whole deployment, task workers included.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime

from django.db.models import Count, Max, Min
from django.utils import timezone
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

REQUEST_SECONDS = Histogram(
    "karmo_http_request_duration_seconds",
    "Time to answer a request, by view name and method.",
    ["view", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RESPONSES = Counter(
    "karmo_http_responses_total",
    "Responses by view name, method and status code.",
    ["view", "method", "status"],
)


def _age(when: datetime | None) -> float:
    return (timezone.now() - when).total_seconds() if when else float("nan")


class StateCollector(Collector):
    """Deployment-wide figures, each one cheap indexed query."""

    def collect(self) -> Iterator[Metric]:
        from django_tasks_db.models import DBTaskResult

        from accounts.audit import last_verification
        from accounts.models import AuditCheckpoint, AuditEvent, ReactivationRequest, SyncRun
        from ops.workers import fresh_workers

        pending = ReactivationRequest.objects.pending().aggregate(
            n=Count("pk"), o=Min("created_at")
        )
        yield GaugeMetricFamily(
            "karmo_approval_queue_depth",
            "Reactivation requests waiting for a manager.",
            value=pending["n"],
        )
        yield GaugeMetricFamily(
            "karmo_approval_oldest_pending_age_seconds",
            "Age of the oldest pending request (NaN when none).",
            value=_age(pending["o"]),
        )
        last = AuditEvent.objects.aggregate(seq=Max("sequence"), at=Max("occurred_at"))
        yield CounterMetricFamily(
            "karmo_audit_events",
            "Audit events appended (rate() gives the append rate).",
            value=last["seq"] or 0,
        )
        yield GaugeMetricFamily(
            "karmo_audit_last_append_age_seconds",
            "Seconds since the last audit event.",
            value=_age(last["at"]),
        )
        checkpoint = AuditCheckpoint.objects.values("created_at", "tree_size").first()
        yield GaugeMetricFamily(
            "karmo_audit_last_checkpoint_age_seconds",
            "Seconds since the last signed checkpoint of the log (NaN when none).",
            value=_age(checkpoint["created_at"] if checkpoint else None),
        )
        yield GaugeMetricFamily(
            "karmo_audit_events_after_checkpoint",
            "Audit events not yet covered by a signed checkpoint.",
            value=(last["seq"] or 0) - (checkpoint["tree_size"] if checkpoint else 0),
        )
        verification = last_verification()
        at = datetime.fromisoformat(verification["at"]) if verification else None
        yield GaugeMetricFamily(
            "karmo_audit_last_verification_age_seconds",
            "Seconds since the hash chain was last verified (NaN when never).",
            value=_age(at),
        )
        yield GaugeMetricFamily(
            "karmo_audit_last_verification_ok",
            "1 when the last verification held, else 0.",
            value=1 if verification and verification["ok"] else 0,
        )
        yield from _sync_metrics(SyncRun)
        tasks = GaugeMetricFamily("karmo_tasks", "Background tasks by status.", labels=["status"])
        for row in DBTaskResult.objects.values("status").annotate(n=Count("pk")).order_by():
            tasks.add_metric([row["status"]], row["n"])
        yield tasks
        yield GaugeMetricFamily(
            "karmo_task_workers_fresh",
            "Task workers whose heartbeat is recent.",
            value=fresh_workers().count(),
        )


def _sync_metrics(sync_run: type) -> Iterator[Metric]:
    runs = CounterMetricFamily(
        "karmo_sync_runs", "Sync runs by final or current state.", labels=["state"]
    )
    for row in sync_run.objects.values("state").annotate(n=Count("pk")).order_by():
        runs.add_metric([row["state"]], row["n"])
    yield runs
    last = sync_run.objects.filter(finished_at__isnull=False, started_at__isnull=False).first()
    duration = (last.finished_at - last.started_at).total_seconds() if last else float("nan")
    yield GaugeMetricFamily(
        "karmo_sync_last_duration_seconds", "Duration of the last finished sync.", value=duration
    )
    records = GaugeMetricFamily(
        "karmo_sync_last_records", "Records of the last finished sync, by kind.", labels=["kind"]
    )
    for kind in ("seen", "created", "updated", "removed", "unchanged"):
        records.add_metric([kind], getattr(last, kind) if last else 0)
    yield records
    requests = last.requests if last and last.requests is not None else float("nan")
    yield GaugeMetricFamily(
        "karmo_sync_last_requests", "Provider requests of the last finished sync.", value=requests
    )
    yield GaugeMetricFamily(
        "karmo_sync_last_failed",
        "1 when the last finished sync failed.",
        value=1 if last and last.state == sync_run.State.FAILED else 0,
    )


def exposition() -> bytes:
    """The text exposition: this deployment's processes, then the database-wide figures."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        processes = CollectorRegistry()
        multiprocess.MultiProcessCollector(processes)
    else:
        processes = REGISTRY
    state = CollectorRegistry()
    state.register(StateCollector())
    return generate_latest(processes) + generate_latest(state)

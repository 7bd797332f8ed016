"""Recovery of tasks whose worker stopped beating: requeued, or failed once out of attempts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from accounts.models import AuditEvent, SyncRun
from accounts.sync.runs import sync_provider_task
from ops.models import WorkerHeartbeat
from ops.workers import WorkerLost, recover_orphaned_tasks

pytestmark = pytest.mark.django_db


def heartbeat(worker_id: str, age_seconds: float) -> None:
    seen = timezone.now() - timedelta(seconds=age_seconds)
    WorkerHeartbeat.objects.create(
        worker_id=worker_id, hostname="h", pid=1, started_at=seen, seen_at=seen
    )


def running_sync(worker_ids: list[str]) -> tuple[SyncRun, DBTaskResult]:
    run = SyncRun.objects.create(provider="workos", state=SyncRun.State.RUNNING)
    result = sync_provider_task.enqueue(run.pk)
    DBTaskResult.objects.filter(pk=result.id).update(
        status="RUNNING", started_at=timezone.now(), worker_ids=worker_ids
    )
    return run, DBTaskResult.objects.get(pk=result.id)


def test_a_dead_workers_sync_is_queued_again_and_the_requeue_audited(settings):
    heartbeat("dead", settings.KARMO_WORKER_STALE_SECONDS + 5)
    run, task = running_sync(["dead"])
    assert recover_orphaned_tasks() == [(str(task.pk), "requeued")]
    task.refresh_from_db()
    run.refresh_from_db()
    assert task.status == "READY"
    assert task.started_at is None
    assert run.state == SyncRun.State.QUEUED
    event = AuditEvent.objects.get(event_type="sync.requeued")
    assert event.target_id == str(run.pk)
    assert not WorkerHeartbeat.objects.exists()


def test_out_of_attempts_the_task_fails_honestly_and_so_does_its_sync(settings):
    settings.KARMO_TASK_MAX_ATTEMPTS = 2
    heartbeat("dead-again", settings.KARMO_WORKER_STALE_SECONDS + 5)
    run, task = running_sync(["dead-once", "dead-again"])
    assert recover_orphaned_tasks() == [(str(task.pk), "failed")]
    task.refresh_from_db()
    run.refresh_from_db()
    assert task.status == "FAILED"
    assert task.exception_class_path == f"{WorkerLost.__module__}.WorkerLost"
    assert run.state == SyncRun.State.FAILED
    assert run.errors == "worker lost"


def test_tasks_of_live_workers_and_of_plain_db_workers_are_left_alone(settings):
    heartbeat("alive", 0)
    heartbeat("dead", settings.KARMO_WORKER_STALE_SECONDS + 5)
    running_sync(["alive"])
    SyncRun.objects.update(state=SyncRun.State.SUCCEEDED)
    running_sync(["db_worker-without-heartbeat"])
    assert recover_orphaned_tasks() == []
    assert set(DBTaskResult.objects.values_list("status", flat=True)) == {"RUNNING"}
    assert list(WorkerHeartbeat.objects.values_list("pk", flat=True)) == ["alive"]

"""Task-worker heartbeats and the recovery of tasks whose worker died.

django-tasks-db claims a task by marking it RUNNING with the worker's id; a worker killed
mid-task (OOM, SIGKILL, lost host) leaves it RUNNING forever. Each `task_worker` beats every
KARMO_WORKER_HEARTBEAT_SECONDS; a RUNNING task whose last worker stopped beating for
KARMO_WORKER_STALE_SECONDS is put back in the queue (tasks here are safe to run again: sync
and sweeps are idempotent), at most KARMO_TASK_MAX_ATTEMPTS times, then failed with
WorkerLost. Tasks run by a plain `db_worker` (no heartbeat row) are never touched.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django_tasks_db.compat import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from ops.models import WorkerHeartbeat

logger = logging.getLogger("karmo.tasks")
SYNC_TASK = "accounts.sync.runs.sync_provider_task"


class WorkerLost(Exception):
    """The worker running this task stopped beating and the task ran out of attempts."""


def fresh_workers() -> QuerySet[WorkerHeartbeat]:
    """Workers seen within the stale window."""
    since = timezone.now() - timedelta(seconds=settings.KARMO_WORKER_STALE_SECONDS)
    return WorkerHeartbeat.objects.filter(seen_at__gte=since)


def beat(worker_id: str, started_at: timezone.datetime) -> None:
    """Record that this worker process is alive."""
    WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id,
        defaults={
            "hostname": socket.gethostname()[:255],
            "pid": os.getpid(),
            "started_at": started_at,
            "seen_at": timezone.now(),
        },
    )


def retire(worker_id: str) -> None:
    """A worker that stops cleanly removes its row (its current task has finished)."""
    WorkerHeartbeat.objects.filter(worker_id=worker_id).delete()


def recover_orphaned_tasks() -> list[tuple[str, str]]:
    """Requeue or fail RUNNING tasks of dead workers; [(task id, "requeued" | "failed")]."""
    dead = set(
        WorkerHeartbeat.objects.exclude(pk__in=fresh_workers().values("pk")).values_list(
            "pk", flat=True
        )
    )
    if not dead:
        return []
    done = []
    with transaction.atomic():
        running = DBTaskResult.objects.running().select_for_update(skip_locked=True)
        for task in running:
            if not task.worker_ids or task.worker_ids[-1] not in dead:
                continue
            done.append((str(task.pk), _recover(task)))
        WorkerHeartbeat.objects.filter(pk__in=dead).delete()
    return done


def _recover(task: DBTaskResult) -> str:
    attempts = len(task.worker_ids)
    if attempts < settings.KARMO_TASK_MAX_ATTEMPTS:
        if task.task_path == SYNC_TASK:
            _requeue_sync_run(task.args_kwargs["args"][0])
        task.status = TaskResultStatus.READY
        task.started_at = None
        task.save(update_fields=["status", "started_at"])
        logger.warning("task %s requeued: its worker %s died", task.pk, task.worker_ids[-1])
        return "requeued"
    task.set_failed(WorkerLost(f"worker {task.worker_ids[-1]} died; {attempts} attempts used"))
    if task.task_path == SYNC_TASK:
        _fail_sync_run(task.args_kwargs["args"][0])
    logger.error("task %s failed: its worker died and it ran out of attempts", task.pk)
    return "failed"


def _requeue_sync_run(run_id: int) -> None:
    from accounts.audit import record_event
    from accounts.models import Outcome, SyncRun

    if SyncRun.objects.filter(pk=run_id, state=SyncRun.State.RUNNING).update(
        state=SyncRun.State.QUEUED, started_at=None, phase=""
    ):
        record_event(
            event_type="sync.requeued",
            outcome=Outcome.RECORDED,
            target=SyncRun.objects.get(pk=run_id),
            reason="the task worker running it died; a live worker runs it again",
            data={"sync_run": run_id},
        )


def _fail_sync_run(run_id: int) -> None:
    from accounts.models import SyncRun
    from accounts.sync.runs import ACTIVE_STATES

    SyncRun.objects.filter(pk=run_id, state__in=ACTIVE_STATES).update(
        state=SyncRun.State.FAILED, finished_at=timezone.now(), errors="worker lost"
    )

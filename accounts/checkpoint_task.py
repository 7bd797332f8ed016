"""The recurring checkpoint: a Django task that books its next run, then signs a checkpoint."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import connections, router, transaction
from django.tasks import TaskResult, TaskResultStatus, task
from django.utils import timezone
from django_tasks_db import DatabaseBackend

from accounts.checkpoints import CheckpointError, write_checkpoint

logger = logging.getLogger("karmo.audit")
_PG_SCHEDULE_LOCK = 0x4B41524D4F03  # any constant; serialises booking the next checkpoint


@task
def audit_checkpoint_task() -> int:
    """Sign a checkpoint if events were added since the last; returns the tree size signed."""
    schedule_checkpoints()  # first, so a failing run still leaves the next one booked
    try:
        made = write_checkpoint()
    except CheckpointError:
        logger.exception("audit checkpoint failed")
        raise
    return made.tree_size if made else 0


def schedule_checkpoints() -> TaskResult | None:
    """Book the checkpoint task KARMO_AUDIT_CHECKPOINT_SECONDS from now unless one is waiting.

    None when the interval is 0 or the backend is not django-tasks-db's persistent queue.
    """
    seconds = settings.KARMO_AUDIT_CHECKPOINT_SECONDS
    backend = audit_checkpoint_task.get_backend()
    if seconds <= 0 or not isinstance(backend, DatabaseBackend):
        return None
    from django_tasks_db.models import DBTaskResult  # a model: import once apps are loaded

    using = router.db_for_write(DBTaskResult)
    with transaction.atomic(using=using):
        if connections[using].vendor == "postgresql":
            with connections[using].cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_PG_SCHEDULE_LOCK])
        waiting = (
            DBTaskResult.objects.using(using)
            .filter(
                task_path=audit_checkpoint_task.module_path,
                backend_name=backend.alias,
                status=TaskResultStatus.READY,
            )
            .order_by("run_after")
            .first()
        )
        if waiting is not None:
            return waiting.task_result
        run_after = timezone.now() + timedelta(seconds=seconds)
        return audit_checkpoint_task.using(run_after=run_after).enqueue()

"""Recurring tasks on django-tasks-db: each run books the next one, never two waiting."""

from __future__ import annotations

import zlib
from datetime import timedelta
from typing import Any

from django.db import connections, router, transaction
from django.tasks import TaskResult, TaskResultStatus
from django.utils import timezone
from django_tasks_db import DatabaseBackend


def book_once(task: Any, delay: timedelta) -> TaskResult | None:
    """Book `task` to run after `delay` unless a run of it is already waiting.

    Returns the waiting or new result; None when the task backend is not django-tasks-db's
    queue (which is what keeps a booking across restarts).
    """
    backend = task.get_backend()
    if not isinstance(backend, DatabaseBackend):
        return None
    from django_tasks_db.models import DBTaskResult  # a model: import once apps are loaded

    using = router.db_for_write(DBTaskResult)
    with transaction.atomic(using=using):
        # SQLite's IMMEDIATE transactions already serialise this check-then-insert.
        if connections[using].vendor == "postgresql":
            with connections[using].cursor() as cursor:
                lock = zlib.crc32(task.module_path.encode())
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [lock])
        waiting = (
            DBTaskResult.objects.using(using)
            .filter(
                task_path=task.module_path,
                backend_name=backend.alias,
                status=TaskResultStatus.READY,
            )
            .order_by("run_after")
            .first()
        )
        if waiting is not None:
            return waiting.task_result
        return task.using(run_after=timezone.now() + delay).enqueue()

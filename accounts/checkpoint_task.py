"""The recurring checkpoint: a Django task that books its next run, then signs a checkpoint."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.tasks import TaskResult, task

from accounts.checkpoints import CheckpointError, write_checkpoint
from accounts.scheduling import book_once

logger = logging.getLogger("karmo.audit")


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
    if seconds <= 0:
        return None
    return book_once(audit_checkpoint_task, timedelta(seconds=seconds))

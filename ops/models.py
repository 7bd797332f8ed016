"""Task-worker liveness, written by `manage.py task_worker` and read by /readyz and recovery."""

from __future__ import annotations

from django.db import models


class WorkerHeartbeat(models.Model):
    """One running task worker; `seen_at` moves forward while the process lives."""

    worker_id = models.CharField(max_length=64, primary_key=True)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.worker_id} on {self.hostname} (pid {self.pid})"

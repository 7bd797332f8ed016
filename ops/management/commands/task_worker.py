"""`db_worker` with a heartbeat, and recovery of tasks whose worker died."""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

from django.conf import settings
from django.db import connections
from django.utils import timezone
from django.utils.crypto import get_random_string
from django_tasks_db.management.commands.db_worker import Command as DBWorkerCommand

from ops.workers import beat, recover_orphaned_tasks, retire

logger = logging.getLogger("karmo.tasks")


class Heartbeat(threading.Thread):
    """Beats and recovers orphans on its own connection, even while a long task runs."""

    def __init__(self, worker_id: str) -> None:
        super().__init__(name="karmo-heartbeat", daemon=True)
        self.worker_id = worker_id
        self.started_at = timezone.now()
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            while True:
                try:
                    beat(self.worker_id, self.started_at)
                    recover_orphaned_tasks()
                except Exception:  # a database blip must not silence the heartbeat for good
                    logger.exception("heartbeat of %s failed", self.worker_id)
                    connections.close_all()
                if self.stopping.wait(settings.KARMO_WORKER_HEARTBEAT_SECONDS):
                    return
        finally:
            connections.close_all()


class Command(DBWorkerCommand):
    help = "Run a task worker that reports its liveness and recovers tasks of dead workers"

    def add_arguments(self, parser: Any) -> None:
        super().add_arguments(parser)
        host = socket.gethostname()[:30]
        parser.set_defaults(worker_id=f"{host}-{os.getpid()}-{get_random_string(8)}")

    def handle(self, *args: Any, worker_id: str, **options: Any) -> None:
        beat(worker_id, timezone.now())  # registered before the first claim
        heartbeat = Heartbeat(worker_id)
        heartbeat.start()
        try:
            super().handle(*args, worker_id=worker_id, **options)
        finally:
            heartbeat.stopping.set()
            heartbeat.join(timeout=10)
            retire(worker_id)

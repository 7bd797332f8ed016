"""Sync heartbeats: a running sync stamps its row every few seconds, so a run whose process
was killed (no `finally` runs after SIGKILL) is found by its silence and ended as failed."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.audit import record_event
from accounts.errors import ErrorCode
from accounts.models import Outcome, SyncRun

logger = logging.getLogger("karmo.sync")


class Heartbeat:
    """A thread that stamps `heartbeat_at` on a running run until stopped or the run ends."""

    def __init__(self, run_pk: int, interval: float) -> None:
        self.run_pk = run_pk
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"sync-{run_pk}-heartbeat")
        self._thread.daemon = True  # never keeps a finished command alive

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 5)

    def _beat(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    running = SyncRun.objects.filter(pk=self.run_pk, state=SyncRun.State.RUNNING)
                    if not running.update(heartbeat_at=timezone.now()):
                        return  # the run ended without us
                except DatabaseError:  # one missed beat is not fatal; the next may land
                    logger.warning("sync %s: heartbeat not written", self.run_pk, exc_info=True)
        finally:
            connection.close()


_beating: dict[int, Heartbeat] = {}
_beating_lock = threading.Lock()


def start_heartbeat(run: SyncRun) -> None:
    """Stamp the run now and keep stamping it from a thread until stop_heartbeat(run)."""
    SyncRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now())
    beat = Heartbeat(run.pk, settings.KARMO_SYNC_HEARTBEAT_SECONDS)
    with _beating_lock:
        _beating[run.pk] = beat
    beat.start()


def stop_heartbeat(run: SyncRun) -> None:
    """Stop the run's heartbeat thread, if this process runs one."""
    with _beating_lock:
        beat = _beating.pop(run.pk, None)
    if beat is not None:
        beat.stop()


def end_silent_runs(provider: str | None = None) -> list[int]:
    """End as failed (and audit) every running sync whose heartbeat is older than
    KARMO_SYNC_STALE_SECONDS; returns their ids."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.KARMO_SYNC_STALE_SECONDS)
    silent = SyncRun.objects.filter(state=SyncRun.State.RUNNING).alias(
        last_sign=Coalesce(F("heartbeat_at"), F("started_at"), F("queued_at"))
    )
    if provider is not None:
        silent = silent.filter(provider=provider)
    ended: list[int] = []
    for run in silent.filter(last_sign__lt=cutoff):
        last = run.heartbeat_at or run.started_at or run.queued_at
        message = f"abandoned: no heartbeat since {last.isoformat()}; the sync process was lost"
        with transaction.atomic():
            # Conditional, so a late beat or a second sweeper leaves the run alone.
            still_silent = SyncRun.objects.filter(pk=run.pk, state=SyncRun.State.RUNNING).filter(
                heartbeat_at=run.heartbeat_at
            )
            if not still_silent.update(state=SyncRun.State.FAILED, finished_at=now, errors=message):
                continue
            record_event(
                event_type="sync.failed",
                outcome=Outcome.FAILED,
                actor=None,
                target=run,
                error_code=ErrorCode.INTERNAL_ERROR.code,
                reason=message,
                data={"sync_run": run.pk, "provider": run.provider, "heartbeat": "lost"},
            )
        ended.append(run.pk)
    return ended

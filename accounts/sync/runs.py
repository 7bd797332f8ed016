"""Sync runs: start one (now or as a task), record its life in SyncRun and the audit log."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.tasks import task
from django.utils import timezone

from accounts.audit import record_event
from accounts.context import audit_context
from accounts.errors import ErrorCode, KarmoError, from_provider_error
from accounts.models import Channel, Outcome, SyncRun
from accounts.permissions import START_SYNC
from accounts.sync.engine import Syncer
from accounts.sync.feed import cursor_placed, place_cursor
from accounts.sync.heartbeat import end_silent_runs, start_heartbeat, stop_heartbeat
from providers.base import Provider
from providers.errors import ProviderError
from providers.registry import get_provider

logger = logging.getLogger("karmo.sync")

ACTIVE_STATES = (SyncRun.State.QUEUED, SyncRun.State.RUNNING)
# A run still queued after this long lost its worker; it no longer blocks new runs. A running
# run is judged by its heartbeat instead (accounts.sync.heartbeat).
STALE_AFTER = timedelta(hours=6)
_PG_SYNC_LOCK = 0x4B53594E43

Progress = Callable[[SyncRun], None]


class RequestCounter:
    """Counts the HTTP requests an adapter sends, through its client's event hooks."""

    def __init__(self, provider: Provider) -> None:
        self.count = 0
        self._lock = threading.Lock()  # the sync's page readers send from several threads
        http = getattr(provider, "http", None)
        self._hooks = getattr(getattr(http, "client", None), "event_hooks", None)
        if self._hooks is not None:
            self._hooks["request"].append(self._on_request)

    def _on_request(self, request: object) -> None:
        with self._lock:
            self.count += 1

    @property
    def available(self) -> bool:
        """Whether this adapter's requests can be counted."""
        return self._hooks is not None

    def detach(self) -> None:
        """Stop counting (the adapter may serve further runs)."""
        if self._hooks is not None and self._on_request in self._hooks["request"]:
            self._hooks["request"].remove(self._on_request)


def _provider_key() -> str:
    return settings.KARMO_PROVIDER


def claim(
    *,
    actor: AbstractBaseUser | None,
    state: str,
    mode: str = SyncRun.Mode.FULL,
    reason: str = "",
) -> SyncRun:
    """Create a run unless one is active for this provider (serialised, so two never start)."""
    key = _provider_key()
    now = timezone.now()
    try:
        run = _create_run(actor=actor, state=state, key=key, now=now, mode=mode, reason=reason)
    except IntegrityError:
        # Another run was created between our check and insert (the constraint held).
        active = SyncRun.objects.filter(provider=key, state__in=ACTIVE_STATES).first()
        raise _already_active(key, active) from None
    if state == SyncRun.State.RUNNING:
        start_heartbeat(run)
    return run


def _already_active(key: str, active: SyncRun | None) -> KarmoError:
    state, pk = (active.state, active.pk) if active else ("active", None)
    return KarmoError(
        ErrorCode.STATE_CONFLICT,
        f"A sync from {key} is already {state} (run {pk}); wait for it to finish.",
        meta={"syncRun": pk, "provider": key},
    )


def _create_run(
    *,
    actor: AbstractBaseUser | None,
    state: str,
    key: str,
    now: datetime,
    mode: str,
    reason: str,
) -> SyncRun:
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_PG_SYNC_LOCK])
        SyncRun.objects.filter(
            provider=key, state=SyncRun.State.QUEUED, queued_at__lt=now - STALE_AFTER
        ).update(state=SyncRun.State.FAILED, finished_at=now, errors="abandoned: no progress")
        end_silent_runs(key)
        active = SyncRun.objects.filter(provider=key, state__in=ACTIVE_STATES).first()
        if active is not None:
            raise _already_active(key, active)
        return SyncRun.objects.create(
            provider=key,
            state=state,
            mode=mode,
            reason=reason[:255],
            started_by=actor if actor is not None and actor.is_authenticated else None,
            started_at=now if state == SyncRun.State.RUNNING else None,
        )


def abandon_active_runs(*, reason: str) -> int:
    """Mark this provider's queued or running syncs failed (for a worker that died)."""
    return SyncRun.objects.filter(provider=_provider_key(), state__in=ACTIVE_STATES).update(
        state=SyncRun.State.FAILED, finished_at=timezone.now(), errors=reason
    )


def _refused(actor: AbstractBaseUser | None, error: KarmoError) -> None:
    record_event(
        event_type="sync.requested",
        outcome=Outcome.DENIED,
        actor=actor,
        error_code=error.code.code,
        reason=error.message,
    )


def run_sync(
    *,
    actor: AbstractBaseUser | None = None,
    run: SyncRun | None = None,
    progress: Progress | None = None,
    provider: Provider | None = None,
    batch_size: int | None = None,
    reason: str = "",
) -> SyncRun:
    """Run a full sync now; with `run`, carry out that queued run. Returns the finished run.

    `reason` says why a full sync ran where an incremental one was asked for. Provider
    failures end the run `failed` (recorded, not raised); other errors also fail the run and
    are re-raised. Raises KarmoError when another sync is active.
    """
    if run is None:
        try:
            run = claim(actor=actor, state=SyncRun.State.RUNNING, reason=reason)
        except KarmoError as error:
            _refused(actor, error)
            raise
    else:
        if not SyncRun.objects.filter(pk=run.pk, state=SyncRun.State.QUEUED).update(
            state=SyncRun.State.RUNNING, started_at=timezone.now()
        ):
            run.refresh_from_db()
            return run
        start_heartbeat(run)
    run.refresh_from_db()
    actor = actor or run.started_by
    started = time.monotonic()
    own_provider = provider is None
    syncer: Syncer | None = None
    counter: RequestCounter | None = None
    correlation_id = str(uuid.uuid4())
    try:
        started_event(run, actor, correlation_id)
        if provider is None:
            provider = get_provider()
        counter = RequestCounter(provider)
        syncer = Syncer(
            provider=provider, run=run, actor=actor, progress=progress, batch_size=batch_size
        )
        syncer.correlation_id = correlation_id
        cursor = place_cursor(provider)
        syncer.sync_all()
    except BaseException as exc:  # even Ctrl-C: the run must not stay "running"
        finish(run, syncer, counter, started, error=exc, correlation_id=correlation_id)
        if not isinstance(exc, ProviderError):
            raise
        return run
    finally:
        if own_provider and provider is not None:
            provider.close()
    cursor_placed(run.provider, cursor, run.started_at or timezone.now(), run)
    finish(run, syncer, counter, started)
    return run


def started_event(run: SyncRun, actor: AbstractBaseUser | None, correlation_id: str) -> None:
    record_event(
        event_type="sync.started",
        outcome=Outcome.RECORDED,  # not ATTEMPTED: reconcile looks for those
        actor=actor,
        target=run,
        correlation_id=correlation_id,
        data={"sync_run": run.pk, "provider": run.provider, "mode": run.mode},
    )


def finish(
    run: SyncRun,
    syncer: Syncer | None,
    counter: RequestCounter | None,
    started: float,
    *,
    error: BaseException | None = None,
    correlation_id: str = "",
) -> None:
    """End a run (full, incremental or webhook): state, counts, requests, audit event."""
    stop_heartbeat(run)
    if counter is not None:
        run.requests = counter.count
        counter.detach()
    correlation_id = correlation_id or (syncer.correlation_id if syncer else "")
    actor = syncer.actor if syncer else run.started_by
    seconds = time.monotonic() - started
    if error is not None:
        _fail(run, error, syncer, actor, correlation_id, seconds)
        return
    run.state = SyncRun.State.SUCCEEDED
    run.phase = "done"
    run.finished_at = timezone.now()
    run.errors = "\n".join(syncer.error_lines) if syncer else ""
    run.save()
    settled = _settle_open_attempts() if run.mode == SyncRun.Mode.FULL else 0
    record_event(
        event_type="sync.finished",
        outcome=Outcome.SUCCEEDED,
        actor=actor,
        target=run,
        correlation_id=correlation_id,
        data={**_summary(run, seconds), "settled": settled},
    )


def _settle_open_attempts() -> int:
    """Give changes interrupted between provider call and commit their outcome (DESIGN.md)."""
    from accounts.services.reconcile import reconcile

    try:
        return len(reconcile().settled)
    except Exception:
        logger.exception("settling open attempts after the sync failed")
        return 0


def _summary(run: SyncRun, seconds: float) -> dict[str, Any]:
    return {
        "sync_run": run.pk,
        "provider": run.provider,
        "seen": run.seen,
        "created": run.created,
        "updated": run.updated,
        "removed": run.removed,
        "unchanged": run.unchanged,
        "mode": run.mode,
        "requests": run.requests,
        "seconds": round(seconds, 3),
    }


def _fail(
    run: SyncRun,
    exc: BaseException,
    syncer: Syncer | None,
    actor: AbstractBaseUser | None,
    correlation_id: str,
    seconds: float,
) -> None:
    if isinstance(exc, ProviderError):
        error = from_provider_error(exc, run.provider)
        code, message, request_id = error.code.code, error.message, exc.request_id
    else:
        logger.exception("sync %s failed", run.pk)
        code, message, request_id = (
            ErrorCode.INTERNAL_ERROR.code,
            f"{type(exc).__name__}: {exc}",
            "",
        )
    lines = [f"[{code}] {message}", *(syncer.error_lines if syncer else [])]
    run.state = SyncRun.State.FAILED
    run.finished_at = timezone.now()
    run.errors = "\n".join(lines)
    run.save()
    record_event(
        event_type="sync.failed",
        outcome=Outcome.FAILED,
        actor=actor,
        target=run,
        error_code=code,
        reason=message,
        provider_request_id=request_id,
        correlation_id=correlation_id,
        data=_summary(run, seconds),
    )


@task()
def sync_provider_task(run_id: int) -> dict[str, Any]:
    """Carry out a queued sync run in the task worker."""
    with audit_context(via=Channel.TASK):
        run = run_sync(run=SyncRun.objects.get(pk=run_id))
    return {"sync_run": run.pk, "state": run.state}


def start_sync(*, actor: AbstractBaseUser) -> SyncRun:
    """Queue a full sync as a background task; refuses without permission or while one is active."""
    if not actor.has_perm(START_SYNC):
        error = KarmoError(ErrorCode.PERMISSION_DENIED)
        _refused(actor, error)
        raise error
    try:
        run = claim(actor=actor, state=SyncRun.State.QUEUED)
    except KarmoError as error:
        _refused(actor, error)
        raise
    record_event(
        event_type="sync.requested",
        outcome=Outcome.REQUESTED,
        actor=actor,
        target=run,
        data={"sync_run": run.pk, "provider": run.provider},
    )
    try:
        result = sync_provider_task.enqueue(run.pk)
    except Exception as exc:
        _fail(run, exc, None, actor, "", 0.0)
        raise
    SyncRun.objects.filter(pk=run.pk).update(task_id=str(result.id)[:64])
    run.refresh_from_db()
    return run

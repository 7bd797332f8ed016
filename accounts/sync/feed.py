"""Incremental sync: apply what the provider's event feed (or a webhook) says changed.

A full sync places the cursor at the newest event it saw before reading, so nothing between
the two is missed; events it already reflected are applied again and change nothing, because
changes go through the sync's compare-then-write path, and an event a webhook already brought
is recognised by its id and skipped (accounts.sync.once). When the provider no longer holds the
cursor (WorkOS keeps events 30 days) a full sync runs by itself and records why.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.tasks import TaskResult, task
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.context import audit_context
from accounts.errors import KarmoError
from accounts.models import Channel, FeedState, SyncRun
from accounts.scheduling import book_once
from accounts.sync.engine import Syncer
from accounts.sync.once import apply_once, forget_old
from providers.base import Change, Provider, has_feed, well_formed
from providers.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderFeedExpired,
    ProviderNotFound,
)

logger = logging.getLogger("karmo.sync")

RECONCILIATION = "scheduled reconciliation: does the mirror still match the provider?"
# WorkOS keeps events 30 days; a cursor placed longer ago than this may point at a gap.
FEED_RETENTION = timedelta(days=29)


def feed_state(key: str) -> FeedState:
    """This provider's feed state (created empty on first use)."""
    state, _ = FeedState.objects.get_or_create(provider=key)
    return state


def place_cursor(provider: Provider) -> str | None:
    """The cursor a full sync starting now resumes the feed from (None: no feed).

    A feed the credentials may not read must not stop the full sync: it runs without one.
    """
    if not has_feed(provider):
        return None
    try:
        return provider.latest_change_cursor() or ""  # type: ignore[attr-defined]
    except (ProviderAuthError, ProviderNotFound) as exc:
        logger.warning("no event feed from %s: %s", settings.KARMO_PROVIDER, exc.message)
        return None


def cursor_placed(key: str, cursor: str | None, at: datetime, run: SyncRun) -> None:
    """After a successful full sync: the feed resumes from `cursor`.

    When the feed was already keeping the mirror up to date, whatever this full sync still
    had to change is drift (should be nothing): it is kept for the sync page.
    """
    state = feed_state(key)
    if state.ready:
        state.drift = {
            "run": run.pk,
            "at": at.isoformat(),
            "created": run.created,
            "updated": run.updated,
            "removed": run.removed,
            "unchanged": run.unchanged,
        }
    state.last_full_at = at
    if run.reason:
        state.last_fallback_reason = run.reason[:255]
    if cursor is not None:
        state.cursor, state.ready, state.cursor_set_at = cursor, True, at
    state.save()


def fallback_reason(state: FeedState, now: datetime) -> str:
    """Why the feed cannot be trusted and a full sync must run; empty when it can be."""
    if not state.ready:
        return "no feed cursor yet: the first sync reads everything"
    if state.cursor_set_at is None or now - state.cursor_set_at > FEED_RETENTION:
        return "the feed cursor is older than the provider keeps events"
    return ""


def run_incremental(
    *,
    provider: Provider,
    actor: AbstractBaseUser | None = None,
    record_empty: bool = True,
) -> SyncRun | None:
    """Apply the feed's changes since the cursor; falls back to a full sync, saying why.

    Returns the run, or None when nothing changed and `record_empty` is false (the scheduled
    poll: one request, no row). Raises KarmoError when another sync is active.
    """
    from accounts.sync.runs import (  # runs imports this module
        RequestCounter,
        claim,
        finish,
        run_sync,
        started_event,
    )

    key = settings.KARMO_PROVIDER
    state = feed_state(key)
    now = timezone.now()
    reason = fallback_reason(state, now) if has_feed(provider) else "this provider has no feed"
    if reason:
        return run_sync(actor=actor, provider=provider, reason=reason)
    counter = RequestCounter(provider)
    started = time.monotonic()
    try:
        fetched_at = timezone.now()
        page = provider.read_changes(state.cursor or None)  # type: ignore[attr-defined]
    except ProviderFeedExpired as exc:
        counter.detach()
        return run_sync(actor=actor, provider=provider, reason=f"feed cursor expired: {exc}")
    except ProviderError:
        counter.detach()
        raise
    FeedState.objects.filter(pk=state.pk).update(last_polled_at=fetched_at)
    if not page.changes and page.cursor == (state.cursor or None) and not record_empty:
        counter.detach()
        return None
    run = claim(actor=actor, state=SyncRun.State.RUNNING, mode=SyncRun.Mode.INCREMENTAL)
    syncer = Syncer(provider=provider, run=run, actor=actor, progress=None)
    syncer.correlation_id = str(uuid.uuid4())
    started_event(run, actor, syncer.correlation_id)
    try:
        while True:
            for line in page.unreadable:  # passed over: the reconciliation mends the record
                syncer.note_error(f"{line} (passed over)")
            changes = _well_formed(provider.name, page.changes, syncer)
            with transaction.atomic():
                apply_once(syncer, changes, fetched_at, via="feed")
                _advance(state, page.cursor, changes)
            if not page.more:
                break
            fetched_at = timezone.now()
            page = provider.read_changes(state.cursor or None)  # type: ignore[attr-defined]
    except BaseException as exc:
        finish(run, syncer, counter, started, error=exc)
        if not isinstance(exc, ProviderError):
            raise
        return run
    finish(run, syncer, counter, started)
    return run


def _well_formed(provider: str, changes: list[Change], syncer: Syncer) -> list[Change]:
    """The changes whose records have their declared types. The others are passed over with a
    line, as the webhooks refuse them: a null email would fail the write, and every poll."""
    kept = []
    for change in changes:
        if well_formed(change):
            kept.append(change)
        else:
            line = f"{provider} event {change.event_id}: a value of the wrong type (passed over)"
            syncer.note_error(line)
    return kept


def _advance(state: FeedState, cursor: str | None, changes: list[Change]) -> None:
    state.cursor = cursor or ""
    now = timezone.now()
    if changes:
        state.last_applied_at = now
        occurred = parse_datetime(changes[-1].occurred_at) if changes[-1].occurred_at else None
        state.last_event_at = occurred or now
    state.last_polled_at = now
    state.save(update_fields=["cursor", "last_applied_at", "last_event_at", "last_polled_at"])


@task()
def poll_feed_task() -> dict[str, Any]:
    """The scheduled poll: books the next one first, then applies what changed.

    A provider without a pull feed (Stytch: webhooks only) ends the chain of polls, and a feed
    the last full sync could not read is not polled into a full sync every interval.
    """
    from accounts.sync.runs import ACTIVE_STATES
    from providers.registry import get_provider

    provider = get_provider()
    try:
        if not has_feed(provider):
            return {"skipped": "this provider has no event feed"}
        schedule_feed_poll()  # before polling, so a failing poll still leaves the next one booked
        state = feed_state(settings.KARMO_PROVIDER)
        if not state.ready and state.last_full_at is not None:
            return {"skipped": "the last full sync could not read the event feed"}
        if SyncRun.objects.filter(provider=state.provider, state__in=ACTIVE_STATES).exists():
            return {"skipped": "another sync is running"}
        with audit_context(via=Channel.TASK):
            run = run_incremental(provider=provider, record_empty=False)
    except KarmoError as error:  # a sync started between the check and the claim
        return {"skipped": error.message}
    finally:
        provider.close()
    return {"sync_run": run.pk if run else None, "mode": run.mode if run else "incremental"}


def schedule_feed_poll() -> TaskResult | None:
    """Book the next poll KARMO_FEED_POLL_SECONDS from now (None when polling is off)."""
    seconds = settings.KARMO_FEED_POLL_SECONDS
    if seconds <= 0:
        return None
    return book_once(poll_feed_task, timedelta(seconds=seconds))


@task()
def reconcile_mirror_task() -> dict[str, Any]:
    """The scheduled full sync that checks the feed missed nothing (its changes are drift)."""
    from accounts.sync.runs import run_sync
    from providers.registry import get_provider

    schedule_reconciliation()
    forget_old()
    provider = get_provider()
    try:
        with audit_context(via=Channel.TASK):
            run = run_sync(provider=provider, reason=RECONCILIATION)
    except KarmoError as error:  # another sync runs: the next night checks
        return {"skipped": error.message}
    finally:
        provider.close()
    return {"sync_run": run.pk, "drift": feed_state(run.provider).drift}


def schedule_reconciliation() -> TaskResult | None:
    """Book the next full reconciliation KARMO_RECONCILE_HOURS from now (None when off)."""
    hours = settings.KARMO_RECONCILE_HOURS
    if hours <= 0:
        return None
    return book_once(reconcile_mirror_task, timedelta(hours=hours))

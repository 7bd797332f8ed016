"""Take each provider event in once, whichever path (feed page or webhook) brings it first.

Both paths run `apply_once` inside a transaction that holds the provider's apply lock, so a
webhook and a poll carrying the same event never both compare against the old mirror row:
the second one waits, then finds the event recorded and skips it. On SQLite every write
transaction already runs alone (BEGIN IMMEDIATE); on PostgreSQL a transaction-scoped advisory
lock per provider does the same for these short transactions.
"""

from __future__ import annotations

import zlib
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import AppliedEvent, WebhookDelivery
from accounts.sync.engine import Syncer
from accounts.sync.kinds import KINDS
from providers.base import Change

# Applied events are kept a little longer than the providers keep or retry them (WorkOS
# keeps events 30 days; webhook retries stop after days), then forgotten.
KEPT_FOR = timedelta(days=31)
# One advisory lock namespace for these locks, so they cannot collide with another use.
LOCK_NAMESPACE = 0x4B41524D  # "KARM"


def lock_provider(key: str) -> None:
    """Hold this provider's apply lock until the surrounding transaction ends."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)",
                [LOCK_NAMESPACE, zlib.crc32(key.encode()) & 0x7FFFFFFF],
            )


def _when(change: Change) -> datetime | None:
    return parse_datetime(change.occurred_at) if change.occurred_at else None


def apply_changes(syncer: Syncer, changes: list[Change], fetched_at: datetime) -> None:
    """Apply a page of changes: the last change of each record wins, referenced kinds first."""
    latest: dict[tuple[str, str], Change] = {}
    for change in changes:
        latest.pop((change.kind, change.external_id), None)
        latest[(change.kind, change.external_id)] = change
    for kind in KINDS:
        mine = [change for change in latest.values() if change.kind == kind.noun]
        present = [change.item for change in mine if change.item is not None]
        if present:
            syncer.apply_records(kind, present, fetched_at)
        if gone := [change.external_id for change in mine if change.item is None]:
            syncer.remove_records(kind, gone)


def fresh_changes(key: str, changes: list[Change]) -> list[Change]:
    """The changes whose events were not taken in yet and are not older than one that was.

    A change without an event id (nothing to recognise it by) is always kept: applying it
    again still changes nothing, because the sync compares before it writes.
    """
    ids = [change.event_id for change in changes if change.event_id]
    seen = set(
        AppliedEvent.objects.filter(provider=key, event_id__in=ids).values_list(
            "event_id", flat=True
        )
    )
    unseen = [change for change in changes if not change.event_id or change.event_id not in seen]
    newest: dict[tuple[str, str], datetime] = {}
    for kind in {change.kind for change in unseen}:
        records = {change.external_id for change in unseen if change.kind == kind}
        rows = (
            AppliedEvent.objects.filter(provider=key, kind=kind, external_id__in=records)
            .values("external_id")
            .annotate(latest=Max("occurred_at"))
        )
        newest.update(((kind, row["external_id"]), row["latest"]) for row in rows)
    fresh = []
    for change in unseen:
        when, latest = _when(change), newest.get((change.kind, change.external_id))
        if when is None or latest is None or when >= latest:
            fresh.append(change)
    return fresh


def record_applied(key: str, changes: list[Change], via: str) -> None:
    """Remember the events of `changes` (ids already recorded are left as they are)."""
    now = timezone.now()
    rows = {
        change.event_id: AppliedEvent(
            provider=key,
            event_id=change.event_id[:128],
            kind=change.kind,
            external_id=change.external_id[:128],
            occurred_at=_when(change),
            applied_at=now,
            via=via,
        )
        for change in changes
        if change.event_id
    }
    AppliedEvent.objects.bulk_create(rows.values(), ignore_conflicts=True)


def apply_once(syncer: Syncer, changes: list[Change], fetched_at: datetime, via: str) -> int:
    """Apply the changes not taken in before; returns how many were new.

    Runs in (and needs) a transaction, holding the provider's apply lock until it commits.
    """
    if not changes:
        return 0
    with transaction.atomic():
        lock_provider(syncer.key)
        fresh = fresh_changes(syncer.key, changes)
        apply_changes(syncer, fresh, fetched_at)
        record_applied(syncer.key, changes, via)
    return len(fresh)


def forget_old(now: datetime | None = None) -> int:
    """Drop applied events and webhook deliveries older than KEPT_FOR; returns how many.

    A delivery id only refuses replays while its signature could still pass: up to twice the
    timestamp tolerance after it arrived (a timestamp may be that far ahead of our clock).
    """
    now = now or timezone.now()
    tolerance = timedelta(seconds=2 * settings.KARMO_WEBHOOK_TOLERANCE_SECONDS)
    applied = AppliedEvent.objects.filter(applied_at__lt=now - KEPT_FOR).delete()[0]
    delivered = WebhookDelivery.objects.filter(received_at__lt=now - max(KEPT_FOR, tolerance))
    return applied + delivered.delete()[0]

"""The full sync: stream each kind from the provider, upsert changed rows in batches, audit."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from accounts.audit import EventSpec, record_events
from accounts.models import Channel, MembershipRole, Outcome, SyncRun
from accounts.sync.kinds import KINDS, REFERENCED, Kind, Values

logger = logging.getLogger("karmo.sync")

MAX_ERROR_LINES = 50


class PkSet:
    """A set of primary keys as a bitmap: a few bytes per row, so memory stays flat."""

    def __init__(self) -> None:
        self._bits = bytearray()

    def add(self, pk: int) -> None:
        index = pk >> 3
        if index >= len(self._bits):
            self._bits.extend(bytes(index + 1 - len(self._bits) + len(self._bits) // 2))
        self._bits[index] |= 1 << (pk & 7)

    def __contains__(self, pk: object) -> bool:
        if not isinstance(pk, int):
            return False
        index = pk >> 3
        return index < len(self._bits) and bool(self._bits[index] & (1 << (pk & 7)))


@dataclass(slots=True)
class _Change:
    """One provider record that is new, or differs from (or was removed from) its stored row."""

    external_id: str
    values: Values
    row: models.Model | None = None
    diff: list[str] = field(default_factory=list)
    current: Values = field(default_factory=dict)


@dataclass
class _Pending:
    """What one batch will write."""

    creates: list[models.Model] = field(default_factory=list)
    updates: list[models.Model] = field(default_factory=list)
    update_fields: set[str] = field(default_factory=set)
    roles: dict[str, tuple[str, ...]] = field(default_factory=dict)
    replace_roles: list[models.Model] = field(default_factory=list)
    events: list[EventSpec] = field(default_factory=list)


class Syncer:
    """Runs one sync of every kind into a SyncRun, batch by batch."""

    def __init__(
        self,
        *,
        provider: Any,
        run: SyncRun,
        actor: Any,
        progress: Callable[[SyncRun], None] | None,
        batch_size: int | None = None,
    ) -> None:
        self.provider = provider
        self.run = run
        self.key = run.provider
        self.actor = actor
        self.progress = progress
        self.batch_size = max(1, batch_size or settings.KARMO_SYNC_BATCH_SIZE)
        self.correlation_id = str(uuid.uuid4())
        self.error_lines: list[str] = []

    def sync_all(self) -> None:
        """Sync every kind; raises whatever the provider raises."""
        for kind in KINDS:
            self.sync_kind(kind)

    def sync_kind(self, kind: Kind) -> None:
        """Stream one kind, upsert it batch by batch, then mark what was not seen removed."""
        self.run.phase = kind.plural
        self._report()
        seen = PkSet()
        items = iter(kind.listing(self.provider))
        while True:
            fetched_at = timezone.now()
            batch = list(islice(items, self.batch_size))
            if not batch:
                break
            self.run.seen += len(batch)
            self._apply(kind, batch, seen, fetched_at)
            self._report()
        if self._mark_removed(kind, seen):
            self._report()

    def note_error(self, line: str) -> None:
        """Keep a bounded list of per-record problems for the run's `errors`."""
        logger.warning("sync %s: %s", self.run.pk, line)
        if len(self.error_lines) < MAX_ERROR_LINES:
            self.error_lines.append(line)
        elif len(self.error_lines) == MAX_ERROR_LINES:
            self.error_lines.append("… more problems were logged")

    def event(self, event_type: str, target: models.Model, **kwargs: Any) -> EventSpec:
        """An audit event for one record this run created, changed or removed."""
        return EventSpec(
            event_type=event_type,
            outcome=Outcome.RECORDED,
            actor=self.actor,
            target=target,
            via=Channel.SYNC,
            correlation_id=self.correlation_id,
            data={"sync_run": self.run.pk},
            **kwargs,
        )

    def _report(self) -> None:
        self.run.save(update_fields=["phase", "seen", "created", "updated", "removed", "unchanged"])
        if self.progress is not None:
            self.progress(self.run)

    def _apply(self, kind: Kind, batch: list[Any], seen: PkSet, fetched_at: datetime) -> None:
        desired: dict[str, Values] = {item.id: kind.to_values(item) for item in batch}
        rows = {row["external_id"]: row for row in kind.stored(self.key, desired)}
        stored_roles = self._stored_roles(kind, rows.values())
        changes: list[_Change] = []
        for external_id, values in desired.items():
            row = rows.get(external_id)
            if row is None:
                changes.append(_Change(external_id, values))
                continue
            seen.add(row["pk"])
            if row["synced_at"] > fetched_at:  # written by a service after this page was read
                self.run.unchanged += 1
                continue
            current = kind.current(row, stored_roles.get(row["pk"]))
            diff = [name for name, value in values.items() if current[name] != value]
            if diff or row["removed_at"] is not None:
                changes.append(
                    _Change(external_id, values, kind.instance(self.key, row), diff, current)
                )
            else:
                self.run.unchanged += 1
        if not changes:
            return
        pending = self._plan(kind, changes)
        with transaction.atomic():
            created = kind.model.objects.bulk_create(pending.creates)
            if pending.updates:
                kind.model.objects.bulk_update(pending.updates, sorted(pending.update_fields))
            self._write_roles(pending, created)
            record_events(pending.events)
        for row in created:
            seen.add(row.pk)
        self.run.created += len(pending.creates)
        self.run.updated += len(pending.updates)

    def _stored_roles(
        self, kind: Kind, rows: Iterable[dict[str, Any]]
    ) -> dict[int, tuple[str, ...]]:
        if kind.noun != "membership":
            return {}
        pks = [row["pk"] for row in rows]
        held: dict[int, list[str]] = {}
        if pks:
            for membership_id, slug in MembershipRole.objects.filter(
                membership_id__in=pks
            ).values_list("membership_id", "slug"):
                held.setdefault(membership_id, []).append(slug)
        return {pk: tuple(sorted(slugs)) for pk, slugs in held.items()}

    def _references(self, kind: Kind, changes: list[_Change]) -> dict[str, dict[str, models.Model]]:
        """Rows that new or re-pointed records refer to, one query per referenced kind."""
        found: dict[str, dict[str, models.Model]] = {}
        for ref in kind.refs:
            wanted = {
                change.values[ref]
                for change in changes
                if change.values[ref] and (change.row is None or ref in change.diff)
            }
            model = REFERENCED[ref]
            found[ref] = (
                {
                    target.external_id: target
                    for target in model.objects.filter(provider=self.key, external_id__in=wanted)
                    .order_by()
                    .only("pk", "external_id")
                }
                if wanted
                else {}
            )
        return found

    def _plan(
        self,
        kind: Kind,
        changes: list[_Change],
    ) -> _Pending:
        now = timezone.now()
        references = self._references(kind, changes)
        pending = _Pending()
        for change in changes:
            external_id, values, row, diff = (
                change.external_id,
                change.values,
                change.row,
                change.diff,
            )
            needed = kind.refs if row is None else [ref for ref in kind.refs if ref in diff]
            resolved = self._resolve(kind, external_id, values, needed, references)
            if resolved is None:
                continue
            if row is None:
                row = kind.model(provider=self.key, external_id=external_id, synced_at=now)
                self._assign(kind, row, values, list(values), resolved)
                pending.creates.append(row)
                if "roles" in values:
                    pending.roles[external_id] = values["roles"]
                pending.events.append(
                    self.event(f"{kind.noun}.sync_created", row, after=_jsonable(values))
                )
                continue
            before = {name: _jsonable(change.current[name]) for name in diff}
            after = {name: _jsonable(values[name]) for name in diff}
            restored = row.removed_at is not None
            if restored:
                before["removed_at"] = row.removed_at.isoformat()
                after["removed_at"] = None
                row.removed_at = None
                pending.update_fields.add("removed_at")
            self._assign(kind, row, values, diff, resolved)
            row.synced_at = now
            row.updated_at = now
            pending.update_fields.update(
                f"{name}_id" if name in kind.refs else name for name in diff if name != "roles"
            )
            pending.update_fields.update(("synced_at", "updated_at"))
            pending.updates.append(row)
            if kind.noun == "membership" and ("roles" in diff or "organization" in diff):
                pending.roles[external_id] = values["roles"]
                pending.replace_roles.append(row)
            event_type = f"{kind.noun}.sync_restored" if restored else f"{kind.noun}.sync_updated"
            pending.events.append(self.event(event_type, row, before=before, after=after))
        return pending

    def _resolve(
        self,
        kind: Kind,
        external_id: str,
        values: Values,
        needed: Iterable[str],
        references: dict[str, dict[str, models.Model]],
    ) -> dict[str, models.Model | None] | None:
        resolved: dict[str, models.Model | None] = {}
        for ref in needed:
            wanted = values[ref]
            if not wanted:
                resolved[ref] = None
                continue
            target = references[ref].get(wanted)
            if target is None:
                self.note_error(f"{kind.noun} {external_id}: unknown {ref} {wanted}")
                return None
            resolved[ref] = target
        return resolved

    @staticmethod
    def _assign(
        kind: Kind,
        row: models.Model,
        values: Values,
        names: list[str],
        resolved: dict[str, models.Model | None],
    ) -> None:
        for name in names:
            if name in kind.refs:
                setattr(row, name, resolved[name])
            elif name != "roles":
                setattr(row, name, values[name])

    def _write_roles(self, pending: _Pending, created: list[models.Model]) -> None:
        if not pending.roles:
            return
        if pending.replace_roles:
            MembershipRole.objects.filter(
                membership_id__in=[row.pk for row in pending.replace_roles]
            ).delete()
        MembershipRole.objects.bulk_create(
            MembershipRole(membership=row, organization_id=row.organization_id, slug=slug)
            for row in [*created, *pending.replace_roles]
            for slug in pending.roles.get(row.external_id, ())
        )

    def _mark_removed(self, kind: Kind, seen: PkSet) -> int:
        """Mark rows the provider no longer returned; rows written during this run are kept.

        Walks the table in primary-key order and filters the rest in Python, so each step is
        an index range scan (a `provider=` filter makes SQLite sort the whole table instead).
        """
        started = self.run.started_at
        last, removed = 0, 0
        while True:
            rows = list(
                kind.model.objects.filter(pk__gt=last, removed_at__isnull=True)
                .order_by("pk")
                .values_list("pk", "provider", "synced_at", "created_at")[: self.batch_size]
            )
            gone = [
                pk
                for pk, provider, synced_at, created_at in rows
                if provider == self.key
                and synced_at < started
                and created_at < started
                and pk not in seen
            ]
            if gone:
                removed += self._remove(kind, gone)
            if len(rows) < self.batch_size:
                return removed
            last = rows[-1][0]

    def _remove(self, kind: Kind, pks: list[int]) -> int:
        now = timezone.now()
        rows = list(kind.queryset(self.key).filter(pk__in=pks, removed_at__isnull=True))
        with transaction.atomic():
            count = kind.model.objects.filter(
                pk__in=[row.pk for row in rows], removed_at__isnull=True
            ).update(removed_at=now, updated_at=now)
            record_events(
                self.event(
                    f"{kind.noun}.sync_removed",
                    row,
                    before={"removed_at": None},
                    after={"removed_at": now.isoformat()},
                )
                for row in rows
            )
        self.run.removed += count
        return count


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value

"""The full sync: stream each kind from the provider, upsert changed rows in batches, audit."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Generator, Iterable
from contextlib import ExitStack, closing, nullcontext
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.audit import EventSpec, record_described
from accounts.models import Channel, Outcome, SyncRun
from accounts.sync.kinds import KINDS, REFERENCED, Kind, Values
from accounts.sync.prefetch import prefetched
from accounts.sync.store import (
    ROLES_TABLE,
    Statistics,
    Table,
    held_roles,
    larger_sqlite_cache,
    read_time,
    replace_roles,
)

logger = logging.getLogger("karmo.sync")

MAX_ERROR_LINES = 50
REFERENCED_TABLES = {
    ref: Table(kind) for kind in KINDS for ref, model in REFERENCED.items() if kind.model is model
}


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
        self.statistics = Statistics()

    def sync_all(self) -> None:
        """Sync every kind; raises whatever the provider raises."""
        with larger_sqlite_cache(), ExitStack() as readers:
            # Every kind's reader starts now, so later lists are read while earlier kinds are
            # written (within the provider's budget); each reads at most two batches ahead.
            # Closed on the way out, even on an error, so the reading threads stop at once.
            # Every listing is asked for before any is read: a provider may share one read
            # between two kinds (Stytch's members are users and memberships).
            listings = [iter(kind.listing(self.provider)) for kind in KINDS]
            streams = [
                readers.enter_context(closing(prefetched(items, self.batch_size)))
                for items in listings
            ]
            listed: list[tuple[Kind, PkSet]] = []
            for kind, stream in zip(KINDS, streams, strict=True):
                listed.append((kind, self._list_kind(kind, stream)))
                stream.close()
        # Removals only once every listing completed, children first: a failed membership
        # listing must not leave removed users whose memberships still show as present.
        for kind, seen in reversed(listed):
            self._removals(kind, seen)

    def _read(self, kind: Kind) -> Generator[tuple[datetime, list[Any]]]:
        return prefetched(iter(kind.listing(self.provider)), self.batch_size)

    def sync_kind(
        self, kind: Kind, batches: Iterable[tuple[datetime, list[Any]]] | None = None
    ) -> None:
        """Stream one kind, upsert it batch by batch, then mark what was not seen removed."""
        self._removals(kind, self._list_kind(kind, batches))

    def _list_kind(self, kind: Kind, batches: Iterable[tuple[datetime, list[Any]]] | None) -> PkSet:
        """Stream one kind and upsert it batch by batch; the rows it saw."""
        self.run.phase = kind.plural
        self._report()
        table = Table(kind)
        seen = PkSet()
        with closing(self._read(kind)) if batches is None else nullcontext(batches) as stream:
            for fetched_at, batch in stream:
                self.run.seen += len(batch)
                self._apply(kind, table, batch, seen, fetched_at)
                self._report()
        return seen

    def _removals(self, kind: Kind, seen: PkSet) -> None:
        if self._mark_removed(kind, Table(kind), seen):
            self._report()

    def apply_records(self, kind: Kind, items: list[Any], fetched_at: datetime) -> None:
        """Upsert records read from a feed or webhook (compared, so a replay writes nothing)."""
        self.run.seen += len(items)
        self._apply(kind, Table(kind), items, PkSet(), fetched_at)

    def remove_records(self, kind: Kind, external_ids: list[str]) -> None:
        """Mark records the provider deleted removed (already removed ones are left alone)."""
        table = Table(kind)
        pks = list(table.pks(self.key, external_ids).values())
        if pks:
            self._remove(kind, table, pks)

    def note_error(self, line: str) -> None:
        """Keep a bounded list of per-record problems for the run's `errors`."""
        logger.warning("sync %s: %s", self.run.pk, line)
        if len(self.error_lines) < MAX_ERROR_LINES:
            self.error_lines.append(line)
        elif len(self.error_lines) == MAX_ERROR_LINES:
            self.error_lines.append("… more problems were logged")

    @property
    def template(self) -> EventSpec:
        """What every per-record event of this run shares."""
        return EventSpec(
            event_type="",
            outcome=Outcome.RECORDED,
            actor=self.actor,
            via=Channel.SYNC,
            correlation_id=self.correlation_id,
            data={"sync_run": self.run.pk},
        )

    def _report(self) -> None:
        self.run.save(update_fields=["phase", "seen", "created", "updated", "removed", "unchanged"])
        if self.progress is not None:
            self.progress(self.run)

    def _apply(
        self, kind: Kind, table: Table, batch: list[Any], seen: PkSet, fetched_at: datetime
    ) -> None:
        desired: dict[str, Values] = {item.id: kind.to_values(item) for item in batch}
        rows = table.stored(self.key, list(desired), fetched_at)
        is_membership = kind.noun == "membership"
        roles = held_roles(row[0] for row in rows) if is_membership else {}
        by_id = {row[1]: row for row in rows}
        creates: list[tuple[str, Values]] = []
        changes: list[tuple[str, Values, tuple[Any, ...], list[str], Values]] = []
        for external_id, values in desired.items():
            row = by_id.get(external_id)
            if row is None:
                creates.append((external_id, values))
                continue
            seen.add(row[0])
            if row[2]:  # written by a service after this page was read
                self.run.unchanged += 1
                continue
            current = table.current(row, roles.get(row[0]))
            diff = [name for name, value in values.items() if current[name] != value]
            if diff or row[3] is not None:
                changes.append((external_id, values, row, diff, current))
            else:
                self.run.unchanged += 1
        if creates or changes:
            self._write(kind, table, creates, changes)

    def _write(
        self,
        kind: Kind,
        table: Table,
        creates: list[tuple[str, Values]],
        changes: list[tuple[str, Values, tuple[Any, ...], list[str], Values]],
    ) -> None:
        now = timezone.now()
        references = self._references(kind, creates, changes)
        events: list[tuple[str, dict[str, str], Any, Any]] = []
        inserts: list[tuple[str, list[Any]]] = []
        new_roles: dict[str, tuple[int | None, tuple[str, ...]]] = {}
        for external_id, values in creates:
            refs = self._resolve(kind, external_id, values, kind.refs, references)
            if refs is None:
                continue
            inserts.append((external_id, [*(values[name] for name in kind.fields), *refs.values()]))
            if values.get("roles"):
                new_roles[external_id] = (refs["organization"], values["roles"])
            events.append(
                (
                    f"{kind.noun}.sync_created",
                    kind.describe(external_id, values, refs),
                    None,
                    values,  # role tuples encode as JSON arrays
                )
            )
        updates: list[tuple[int, dict[str, Any], bool]] = []
        replaced: list[int] = []
        grants: list[tuple[int, int | None, str]] = []
        for external_id, values, row, diff, current in changes:
            needed = [ref for ref in kind.refs if ref in diff]
            resolved = self._resolve(kind, external_id, values, needed, references)
            if resolved is None:
                continue
            refs = {**table.ref_pks(row), **resolved}
            before = {name: _jsonable(current[name]) for name in diff}
            after = {name: _jsonable(values[name]) for name in diff}
            restored = row[3] is not None
            if restored:
                before["removed_at"] = read_time(row[3]).isoformat()
                after["removed_at"] = None
            changed = {
                name: refs[name] if name in kind.refs else values[name]
                for name in diff
                if name != "roles"
            }
            updates.append((row[0], changed, restored))
            if kind.noun == "membership" and ("roles" in diff or "organization" in diff):
                replaced.append(row[0])
                grants.extend((row[0], refs["organization"], slug) for slug in values["roles"])
            event_type = f"{kind.noun}.sync_restored" if restored else f"{kind.noun}.sync_updated"
            events.append((event_type, kind.describe(external_id, values, refs), before, after))
        with transaction.atomic():
            if inserts:
                table.insert(self.key, now, inserts)
            if new_roles:
                for external_id, pk in table.pks(self.key, list(new_roles)).items():
                    organization, slugs = new_roles[external_id]
                    grants.extend((pk, organization, slug) for slug in slugs)
            if updates:
                table.update(now, updates)
            if replaced or grants:
                replace_roles(replaced, grants)
            record_described(self.template, events)
        self.statistics.grew(table.db_table, len(inserts))
        self.statistics.grew(ROLES_TABLE, len(grants))
        self.run.created += len(inserts)
        self.run.updated += len(updates)

    def _references(
        self,
        kind: Kind,
        creates: list[tuple[str, Values]],
        changes: list[tuple[str, Values, tuple[Any, ...], list[str], Values]],
    ) -> dict[str, dict[str, int]]:
        """Primary keys of the rows new or re-pointed records refer to, one query per kind."""
        found: dict[str, dict[str, int]] = {}
        for ref in kind.refs:
            wanted = {values[ref] for _, values in creates if values[ref]}
            wanted.update(
                change[1][ref] for change in changes if ref in change[3] and change[1][ref]
            )
            found[ref] = REFERENCED_TABLES[ref].pks(self.key, sorted(wanted))
        return found

    def _resolve(
        self,
        kind: Kind,
        external_id: str,
        values: Values,
        needed: Iterable[str],
        references: dict[str, dict[str, int]],
    ) -> dict[str, int | None] | None:
        resolved: dict[str, int | None] = {}
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

    def _mark_removed(self, kind: Kind, table: Table, seen: PkSet) -> int:
        """Mark rows the provider no longer returned; rows written during this run are kept."""
        last, removed = 0, 0
        while True:
            rows = table.removal_candidates(self.key, self.run.started_at, last, self.batch_size)
            gone = [pk for pk, older in rows if older and pk not in seen]
            if gone:
                removed += self._remove(kind, table, gone)
            if len(rows) < self.batch_size:
                return removed
            last = rows[-1][0]

    def _remove(self, kind: Kind, table: Table, pks: list[int]) -> int:
        now = timezone.now()
        with transaction.atomic():
            rows = table.describe_present(pks)
            count = table.mark_removed(now, [row[0] for row in rows])
            record_described(
                self.template,
                (
                    (
                        f"{kind.noun}.sync_removed",
                        kind.describe(row[1], table.current(row, None), table.ref_pks(row)),
                        {"removed_at": None},
                        {"removed_at": now.isoformat()},
                    )
                    for row in rows
                ),
            )
        self.run.removed += count
        return count


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, dict):
        return {name: _jsonable(item) for name, item in value.items()}
    return value

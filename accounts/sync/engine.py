"""The full sync: stream each kind from the provider, upsert changed rows in batches, audit."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, closing
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.audit import EventSpec, record_described
from accounts.models import Channel, Outcome, SyncRun
from accounts.sync.kinds import KINDS, REFERENCED, Kind
from accounts.sync.plan import Lookup, PkSet, Plan, plan_batch, wanted_references
from accounts.sync.prefetch import prefetched
from accounts.sync.store import (
    ROLES_TABLE,
    Statistics,
    Table,
    held_roles,
    larger_sqlite_cache,
    replace_roles,
)

logger = logging.getLogger("karmo.sync")

MAX_ERROR_LINES = 50
REFERENCED_TABLES = {
    ref: Table(kind) for kind in KINDS for ref, model in REFERENCED.items() if kind.model is model
}


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

    def _list_kind(self, kind: Kind, batches: Iterable[tuple[datetime, list[Any]]]) -> PkSet:
        """Upsert one kind's batches as they come; the rows it saw."""
        self.run.phase = kind.plural
        self._report()
        table = Table(kind)
        seen = PkSet()
        with closing(self._planned(kind, table, batches, seen)) as plans:
            for plan in plans:
                self._write(kind, table, plan)
                self._report()
        return seen

    def _removals(self, kind: Kind, seen: PkSet) -> None:
        if self._mark_removed(kind, Table(kind), seen):
            self._report()

    def apply_records(self, kind: Kind, items: list[Any], fetched_at: datetime) -> None:
        """Upsert records read from a feed or webhook (compared, so a replay writes nothing)."""
        self.run.seen += len(items)
        table = Table(kind)
        looked = self._look_up(kind, table, items, fetched_at)
        self._write(kind, table, plan_batch(kind, table, looked, PkSet(), self.note_error))

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

    def _look_up(self, kind: Kind, table: Table, batch: list[Any], fetched_at: datetime) -> Lookup:
        """What the database holds for a batch: its rows, their roles, what it refers to."""
        desired = {item.id: kind.to_values(item) for item in batch}
        stored = {row[1]: row for row in table.stored(self.key, list(desired), fetched_at)}
        is_membership = kind.noun == "membership"
        roles = held_roles(row[0] for row in stored.values()) if is_membership else {}
        references = {
            ref: REFERENCED_TABLES[ref].pks(self.key, sorted(wanted))
            for ref, wanted in wanted_references(kind, table, desired, stored).items()
        }
        return Lookup(desired, stored, roles, references)

    def _planned(
        self, kind: Kind, table: Table, batches: Iterable[tuple[datetime, list[Any]]], seen: PkSet
    ) -> Generator[Plan]:
        """Each batch's plan, worked out in a thread while the batch before it is written.

        The writer holds the GIL only between database calls, so planning (diffs, audit
        values) fills the time the writer waits on the database. A batch is looked up before
        the one ahead of it is written, so one that shares a record with it waits for that
        write: it would otherwise plan to create the record a second time.
        """
        with ThreadPoolExecutor(1, thread_name_prefix="karmo-sync-plan") as planner:
            pending: Future[Plan] | None = None
            pending_ids: set[str] = set()
            for fetched_at, batch in batches:
                self.run.seen += len(batch)
                ids = {item.id for item in batch}
                if pending is not None and not pending_ids.isdisjoint(ids):
                    yield pending.result()
                    pending = None
                looked = self._look_up(kind, table, batch, fetched_at)
                planned = planner.submit(plan_batch, kind, table, looked, seen, self.note_error)
                if pending is not None:
                    yield pending.result()
                pending, pending_ids = planned, ids
            if pending is not None:
                yield pending.result()

    def _write(self, kind: Kind, table: Table, plan: Plan) -> None:
        self.run.unchanged += plan.unchanged
        if not plan.events:
            return
        now = timezone.now()
        grants = plan.grants
        with transaction.atomic():
            if plan.inserts:
                table.insert(self.key, now, plan.inserts)
            if plan.new_roles:
                for external_id, pk in table.pks(self.key, list(plan.new_roles)).items():
                    organization, slugs = plan.new_roles[external_id]
                    grants.extend((pk, organization, slug) for slug in slugs)
            if plan.updates:
                table.update(now, plan.updates)
            if plan.replaced or grants:
                replace_roles(plan.replaced, grants)
            record_described(self.template, plan.events)
        self.statistics.grew(table.db_table, len(plan.inserts))
        self.statistics.grew(ROLES_TABLE, len(grants))
        self.run.created += len(plan.inserts)
        self.run.updated += len(plan.updates)

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

"""Raw SQL for sync's hot path: read, insert and update mirror rows by the batch.

Sync touches hundreds of thousands of rows; building model instances and Django's INSERT
compiler cost more than the database itself, so rows go through executemany with plain
tuples. Values are adapted once with the fields' own database preparation.
"""

# Statements are built from model metadata only (table and column names); every value is
# a query parameter.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import cached_property
from typing import Any

from django.db import connection, models
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.insert_rows import insert_rows
from accounts.models import MembershipRole
from accounts.sync.kinds import REFERENCED, Kind


def adapt_time(moment: datetime) -> Any:
    """A datetime as the database adapter stores it (text on SQLite)."""
    return connection.ops.adapt_datetimefield_value(moment)


def read_time(value: Any) -> datetime | None:
    """A stored datetime read through a raw cursor, as an aware datetime."""
    if value is None or isinstance(value, datetime):
        return value
    parsed = parse_datetime(value)
    return timezone.make_aware(parsed, timezone.UTC) if timezone.is_naive(parsed) else parsed


# Sync's inserts touch index pages all over the audit and mirror tables; SQLite's default
# page cache (2 MB) makes it write and re-read the same pages batch after batch.
SYNC_CACHE_KIB = 65536


@contextmanager
def larger_sqlite_cache() -> Iterator[None]:
    """On SQLite, give this connection a bigger page cache while the block runs."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        previous = cursor.fetchone()[0]
        cursor.execute(f"PRAGMA cache_size = -{SYNC_CACHE_KIB}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {int(previous)}")


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def among(column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
    """`column` is one of `values`, as SQL and its parameters.

    PostgreSQL gets one array parameter: psycopg caches only short statements, so one with a
    batch's thousands of placeholders was parsed again for every batch, costing more than
    the query. SQLite has no arrays, so it gets the list.
    """
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [list(values)]
    return f"{column} IN ({', '.join(['%s'] * len(values))})", list(values)


# Fewer new rows than this never call for fresh statistics.
ANALYZE_MIN_ROWS = 2000


class Statistics:
    """On PostgreSQL, ANALYZE a table each time sync has doubled it.

    A first sync fills empty tables faster than autovacuum looks at them (if it runs at all).
    With an empty table's statistics the planner reads every row of the provider for each
    batch's lookup by provider id, so a sync got slower with every batch: 250,000 ZITADEL
    memberships took six minutes. Doubling keeps the ANALYZE calls to a handful.
    """

    def __init__(self) -> None:
        self._rows: dict[str, int] = {}
        self._added: dict[str, int] = {}

    def grew(self, table: str, count: int) -> None:
        """`count` rows were inserted into `table` (a model's db_table)."""
        if connection.vendor != "postgresql" or count <= 0:
            return
        if table not in self._rows:
            self._rows[table] = self._estimate(table)
        added = self._added.get(table, 0) + count
        if added < max(ANALYZE_MIN_ROWS, self._rows[table]):
            self._added[table] = added
            return
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {_quote(table)}")
        self._rows[table] += added
        self._added[table] = 0

    @staticmethod
    def _estimate(table: str) -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [table])
            found = cursor.fetchone()
        return max(0, int(found[0])) if found else 0


class Table:
    """One kind's mirror table, as raw statements over tuples."""

    def __init__(self, kind: Kind) -> None:
        self.kind = kind
        meta = kind.model._meta
        self.db_table = meta.db_table
        self.name = _quote(meta.db_table)
        self.columns = {name: meta.get_field(name).column for name in (*kind.fields, *kind.refs)}
        self.booleans = frozenset(
            name for name in kind.fields if isinstance(meta.get_field(name), models.BooleanField)
        )
        # Where a stored row's referenced provider ids start (see select_sql).
        self.ref_ids_at = 4 + len(kind.fields) + len(kind.refs)

    @cached_property
    def _source(self) -> tuple[list[str], str]:
        """Columns after the first four (fields, referenced pks and provider ids), and FROM."""
        columns = [
            *(f"t.{_quote(self.columns[name])}" for name in self.kind.fields),
            *(f"t.{_quote(self.columns[ref])}" for ref in self.kind.refs),
            *(f"r{index}.external_id" for index in range(len(self.kind.refs))),
        ]
        joins = "".join(
            f" LEFT JOIN {_quote(REFERENCED[ref]._meta.db_table)} r{index}"
            f" ON r{index}.id = t.{_quote(self.columns[ref])}"
            for index, ref in enumerate(self.kind.refs)
        )
        return columns, f"{self.name} t{joins}"

    @cached_property
    def select_sql(self) -> str:
        """Stored rows by provider id: pk, external_id, written-after flag, removed_at,
        fields, referenced pks, referenced provider ids."""
        columns, source = self._source
        head = "t.id, t.external_id, t.synced_at > %s, t.removed_at"
        return f"SELECT {', '.join([head, *columns])} FROM {source} WHERE t.provider = %s AND "

    def stored(
        self, provider_key: str, external_ids: Sequence[str], fetched_at: datetime
    ) -> list[tuple[Any, ...]]:
        """Rows of these provider ids (see select_sql for the columns)."""
        condition, params = among("t.external_id", external_ids)
        with connection.cursor() as cursor:
            cursor.execute(
                self.select_sql + condition, [adapt_time(fetched_at), provider_key, *params]
            )
            return cursor.fetchall()

    def current(self, row: tuple[Any, ...], roles: tuple[str, ...] | None) -> dict[str, Any]:
        """A stored row in the shape of the kind's `to_values`."""
        fields, refs = self.kind.fields, self.kind.refs
        values = dict(zip(fields, row[4 : 4 + len(fields)], strict=True))
        for name in self.booleans:
            values[name] = bool(values[name])
        for index, ref in enumerate(refs):
            values[ref] = row[self.ref_ids_at + index] or ""
        if self.kind.noun == "membership":
            values["roles"] = roles or ()
        return values

    def ref_pks(self, row: tuple[Any, ...]) -> dict[str, int | None]:
        """The stored row's referenced primary keys."""
        start = 4 + len(self.kind.fields)
        return {ref: row[start + index] for index, ref in enumerate(self.kind.refs)}

    def insert(self, provider_key: str, now: datetime, rows: list[tuple[str, list[Any]]]) -> None:
        """Insert (external_id, [field values..., referenced pks...]) rows."""
        names = [*self.kind.fields, *self.kind.refs]
        columns = ["provider", "external_id", "synced_at", "created_at", "updated_at"]
        columns += [self.columns[name] for name in names]
        stamp = adapt_time(now)
        insert_rows(
            self.db_table,
            columns,
            [(provider_key, external_id, stamp, stamp, stamp, *rest) for external_id, rest in rows],
        )

    def update(self, now: datetime, rows: list[tuple[int, dict[str, Any], bool]]) -> None:
        """Update (pk, {field or ref: value or pk}, restored) rows, one executemany per shape."""
        shapes: dict[tuple[tuple[str, ...], bool], list[list[Any]]] = {}
        stamp = adapt_time(now)
        for pk, changed, restored in rows:
            shapes.setdefault((tuple(changed), restored), []).append(
                [*changed.values(), stamp, stamp, pk]
            )
        with connection.cursor() as cursor:
            for (names, restored), params in shapes.items():
                sets = [f"{_quote(self.columns[name])} = %s" for name in names]
                sets += ["synced_at = %s", "updated_at = %s"]
                if restored:
                    sets.append("removed_at = NULL")
                cursor.executemany(
                    f"UPDATE {self.name} SET {', '.join(sets)} WHERE id = %s", params
                )

    def pks(self, provider_key: str, external_ids: Sequence[str]) -> dict[str, int]:
        """Primary keys of rows by provider id."""
        if not external_ids:
            return {}
        condition, params = among("external_id", external_ids)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT external_id, id FROM {self.name} WHERE provider = %s AND {condition}",
                [provider_key, *params],
            )
            return dict(cursor.fetchall())

    def removal_candidates(
        self, provider_key: str, started: datetime, after_pk: int, limit: int
    ) -> list[tuple[int, bool]]:
        """Present rows after `after_pk` in pk order, each with whether it predates the run.

        A primary-key range with the rest tested per row: a `provider =` condition in the
        WHERE clause makes SQLite sort the whole table for every step instead.
        """
        stamp = adapt_time(started)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, provider = %s AND synced_at < %s AND created_at < %s"
                f" FROM {self.name} WHERE id > %s AND removed_at IS NULL ORDER BY id LIMIT %s",
                [provider_key, stamp, stamp, after_pk, limit],
            )
            return [(pk, bool(old)) for pk, old in cursor.fetchall()]

    def describe_present(self, pks: Sequence[int]) -> list[tuple[Any, ...]]:
        """The rows among `pks` not yet removed, in the columns of select_sql."""
        columns, source = self._source
        head = "t.id, t.external_id, NULL, t.removed_at"
        condition, params = among("t.id", pks)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {', '.join([head, *columns])} FROM {source}"
                f" WHERE t.removed_at IS NULL AND {condition}",
                params,
            )
            return cursor.fetchall()

    def mark_removed(self, now: datetime, pks: Sequence[int]) -> int:
        """Set removed_at on these rows (still present); returns how many."""
        stamp = adapt_time(now)
        condition, params = among("id", pks)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {self.name} SET removed_at = %s, updated_at = %s"
                f" WHERE removed_at IS NULL AND {condition}",
                [stamp, stamp, *params],
            )
            return cursor.rowcount


ROLES_TABLE = MembershipRole._meta.db_table
_ROLES = _quote(ROLES_TABLE)


def held_roles(membership_pks: Iterable[int]) -> dict[int, tuple[str, ...]]:
    """Role slugs held through each membership, sorted."""
    pks = list(membership_pks)
    if not pks:
        return {}
    held: dict[int, list[str]] = {}
    condition, params = among("membership_id", pks)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT membership_id, slug FROM {_ROLES} WHERE {condition}", params)
        for membership_id, slug in cursor.fetchall():
            held.setdefault(membership_id, []).append(slug)
    return {pk: tuple(sorted(slugs)) for pk, slugs in held.items()}


def replace_roles(replaced: Sequence[int], grants: Iterable[tuple[int, int, str]]) -> None:
    """Drop the roles of `replaced` memberships, then insert (membership, organization, slug)."""
    with connection.cursor() as cursor:
        if replaced:
            condition, params = among("membership_id", replaced)
            cursor.execute(f"DELETE FROM {_ROLES} WHERE {condition}", params)
    grants = list(grants)
    if grants:
        insert_rows(ROLES_TABLE, ("membership_id", "organization_id", "slug"), grants)

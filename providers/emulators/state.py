"""A small JSON document store for emulator state, on SQLite (in memory or on disk).

On disk, several processes (web server, task worker, commands) share one sandbox.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    parent TEXT NOT NULL DEFAULT '',
    ref TEXT NOT NULL DEFAULT '',
    data TEXT NOT NULL,
    UNIQUE (kind, id)
);
CREATE INDEX IF NOT EXISTS records_kind_seq ON records (kind, seq);
CREATE INDEX IF NOT EXISTS records_kind_parent ON records (kind, parent, seq);
CREATE INDEX IF NOT EXISTS records_kind_ref ON records (kind, ref, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Match:
    """A test on a top-level JSON field, true when any of its values passes.

    A list field is tested item by item (`item_key` picks a key of object items); a value
    passes when it is among `values`, or contains `contains`; `ignore_case` folds both sides.
    """

    field: str
    values: Sequence[Any] = ()
    contains: str | None = None
    ignore_case: bool = False
    item_key: str | None = None


@dataclass(frozen=True)
class Either:
    """True when any of its matches is (an OR of matches)."""

    matches: Sequence[Match]


def _fold(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _checked_name(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"bad field name {name!r}")
    return name


def _match_sql(match: Match | Either, args: list[Any]) -> str:
    """SQL for a match, appending its parameters to `args`."""
    if isinstance(match, Either):
        if not match.matches:
            return "0"
        return "(" + " OR ".join(_match_sql(m, args) for m in match.matches) + ")"
    args.append(f"$.{_checked_name(match.field)}")
    value = "item.value"
    if match.item_key is not None:
        value = f"json_extract(item.value, '$.{_checked_name(match.item_key)}')"
    if match.ignore_case:
        value = f"karmo_lower({value})"
    wanted = [_fold(v) for v in match.values] if match.ignore_case else list(match.values)
    tests = []
    if wanted:
        tests.append(f"{value} IN ({', '.join('?' for _ in wanted)})")
        args.extend(wanted)
    if match.contains is not None:
        tests.append(f"instr({value}, ?) > 0")
        args.append(_fold(match.contains) if match.ignore_case else match.contains)
    test = " OR ".join(tests) or "0"
    # json_each yields the items of a list, or the value itself when it is not one.
    return f"EXISTS (SELECT 1 FROM json_each(records.data, ?) AS item WHERE {test})"  # noqa: S608


class Store:
    """Documents grouped by kind, each with an insertion sequence used for paging.

    `parent` and `ref` are two indexed keys a kind may use for filtering (for example
    a membership's organization id and user id).
    """

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, timeout=30
        )
        self._db.row_factory = sqlite3.Row
        # Python's case folding, so SQL matches agree with Python's str.lower().
        self._db.create_function("karmo_lower", 1, _fold, deterministic=True)
        if self.path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run several reads and writes atomically, across threads and processes."""
        with self._lock:
            if self._db.in_transaction:
                yield
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def discarding[T](self, run: Callable[[], T]) -> tuple[T, bool]:
        """Run `run` in a transaction that is always rolled back; True when it wrote anything."""
        with self._lock:
            changes = self._db.total_changes
            self._db.execute("BEGIN IMMEDIATE")
            try:
                result = run()
            finally:
                wrote = self._db.total_changes != changes
                self._db.execute("ROLLBACK")
        return result, wrote

    def insert(
        self, kind: str, id: str, data: dict[str, Any], *, parent: str = "", ref: str = ""
    ) -> None:
        """Add a document; raises sqlite3.IntegrityError if (kind, id) exists."""
        with self._lock:
            self._db.execute(
                "INSERT INTO records (kind, id, parent, ref, data) VALUES (?, ?, ?, ?, ?)",
                (kind, id, parent, ref, json.dumps(data)),
            )

    def insert_many(self, kind: str, rows: list[tuple[str, dict[str, Any], str, str]]) -> None:
        """Add many (id, data, parent, ref) documents in one statement."""
        with self.transaction():
            self._db.executemany(
                "INSERT INTO records (kind, id, parent, ref, data) VALUES (?, ?, ?, ?, ?)",
                [(kind, id, parent, ref, json.dumps(data)) for id, data, parent, ref in rows],
            )

    def get(self, kind: str, id: str) -> dict[str, Any] | None:
        """One document, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT data FROM records WHERE kind = ? AND id = ?", (kind, id)
            ).fetchone()
        return None if row is None else json.loads(row["data"])

    def get_many(self, kind: str, ids: list[str]) -> dict[str, dict[str, Any]]:
        """Documents by id (missing ids are left out), in one query."""
        if not ids:
            return {}
        marks = ", ".join("?" for _ in ids)
        with self._lock:
            rows = self._db.execute(
                f"SELECT id, data FROM records WHERE kind = ? AND id IN ({marks})",  # noqa: S608
                [kind, *ids],
            ).fetchall()
        return {row["id"]: json.loads(row["data"]) for row in rows}

    def seq_of(self, kind: str, id: str) -> int | None:
        """The insertion sequence of a document (used as a cursor position)."""
        with self._lock:
            row = self._db.execute(
                "SELECT seq FROM records WHERE kind = ? AND id = ?", (kind, id)
            ).fetchone()
        return None if row is None else int(row["seq"])

    def put(self, kind: str, id: str, data: dict[str, Any]) -> None:
        """Replace an existing document's data, keeping its keys and sequence."""
        with self._lock:
            self._db.execute(
                "UPDATE records SET data = ? WHERE kind = ? AND id = ?",
                (json.dumps(data), kind, id),
            )

    def delete(self, kind: str, id: str) -> None:
        """Remove a document."""
        with self._lock:
            self._db.execute("DELETE FROM records WHERE kind = ? AND id = ?", (kind, id))

    def find(
        self,
        kind: str,
        *,
        parent: str | Sequence[str] | None = None,
        ref: str | None = None,
        after_seq: int | None = None,
        before_seq: int | None = None,
        descending: bool = False,
        limit: int | None = None,
        offset: int = 0,
        where: dict[str, list[Any]] | None = None,
        match: Sequence[Match | Either] = (),
        ids: Sequence[str] | None = None,
    ) -> list[tuple[int, dict[str, Any]]]:
        """(seq, data) pairs of a kind, filtered and ordered by sequence.

        `parent` is one value or a list of them; `where` maps a top-level JSON field to the
        values it may take; every `match` must hold; `ids` keeps only those documents (found
        through the index, where `where` reads every document).
        """
        rows = self.find_raw(
            kind,
            parent=parent,
            ref=ref,
            after_seq=after_seq,
            before_seq=before_seq,
            descending=descending,
            limit=limit,
            offset=offset,
            where=where,
            match=match,
            ids=ids,
        )
        return [(seq, json.loads(text)) for seq, _, text in rows]

    def find_raw(
        self,
        kind: str,
        *,
        parent: str | Sequence[str] | None = None,
        ref: str | None = None,
        after_seq: int | None = None,
        before_seq: int | None = None,
        descending: bool = False,
        limit: int | None = None,
        offset: int = 0,
        where: dict[str, list[Any]] | None = None,
        match: Sequence[Match | Either] = (),
        ids: Sequence[str] | None = None,
    ) -> list[tuple[int, str, str]]:
        """Like `find`, but (seq, parent, JSON text) triples, for answers passing documents on."""
        several = parent is not None and not isinstance(parent, str)
        # For several parents, SQLite would walk every document in sequence order checking
        # each one's parent; picking the page's sequences from the parent index first reads
        # only the parents' index entries and then just the page's documents.
        sql = [
            "SELECT seq FROM records INDEXED BY records_kind_parent WHERE kind = ?"
            if several
            else "SELECT seq, parent, data FROM records WHERE kind = ?"
        ]
        args: list[Any] = [kind]
        self._filter(sql, args, parent, ref, where, match)
        if ids is not None:
            sql.append(f"AND id IN ({', '.join('?' for _ in ids)})")
            args.extend(ids)
        if after_seq is not None:
            sql.append("AND seq > ?")
            args.append(after_seq)
        if before_seq is not None:
            sql.append("AND seq < ?")
            args.append(before_seq)
        order = "ORDER BY seq DESC" if descending else "ORDER BY seq"
        sql.append(order)
        if limit is not None or offset:
            # SQLite skips an offset's rows in its index walk, without reading their documents.
            sql.append("LIMIT ? OFFSET ?")
            args.extend((-1 if limit is None else limit, offset))
        query = " ".join(sql)
        if several:
            query = f"SELECT seq, parent, data FROM records WHERE seq IN ({query}) {order}"  # noqa: S608
        with self._lock:
            rows = self._db.execute(query, args).fetchall()
        return [(int(row["seq"]), str(row["parent"]), str(row["data"])) for row in rows]

    def count(
        self,
        kind: str,
        *,
        parent: str | Sequence[str] | None = None,
        ref: str | None = None,
        where: dict[str, list[Any]] | None = None,
        match: Sequence[Match | Either] = (),
    ) -> int:
        """How many documents of a kind exist, with the same filters as `find`."""
        sql = ["SELECT COUNT(*) FROM records WHERE kind = ?"]
        args: list[Any] = [kind]
        self._filter(sql, args, parent, ref, where, match)
        with self._lock:
            return int(self._db.execute(" ".join(sql), args).fetchone()[0])

    @staticmethod
    def _filter(
        sql: list[str],
        args: list[Any],
        parent: str | Sequence[str] | None,
        ref: str | None,
        where: dict[str, list[Any]] | None,
        match: Sequence[Match | Either],
    ) -> None:
        if isinstance(parent, str):
            sql.append("AND parent = ?")
            args.append(parent)
        elif parent is not None:
            sql.append(f"AND parent IN ({', '.join('?' for _ in parent)})")
            args.extend(parent)
        if ref is not None:
            sql.append("AND ref = ?")
            args.append(ref)
        for key, values in (where or {}).items():
            marks = ", ".join("?" for _ in values)
            sql.append(f"AND json_extract(data, '$.{_checked_name(key)}') IN ({marks})")
            args.extend(values)
        for condition in match:
            sql.append(f"AND {_match_sql(condition, args)}")

    def get_meta(self, key: str) -> str | None:
        """A stored setting, such as whether demo data was seeded."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row["value"])

    def set_meta(self, key: str, value: str) -> None:
        """Store a setting."""
        with self._lock:
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def delete_kind(self, kind: str) -> int:
        """Remove every document of a kind; returns how many."""
        with self._lock:
            return self._db.execute("DELETE FROM records WHERE kind = ?", (kind,)).rowcount

    def clear(self) -> None:
        """Remove every document and setting."""
        with self.transaction():
            self._db.execute("DELETE FROM records")
            self._db.execute("DELETE FROM meta")

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

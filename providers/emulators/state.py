"""A small JSON document store for emulator state, on SQLite (in memory or on disk).

On disk, several processes (web server, task worker, commands) share one sandbox.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
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
        parent: str | None = None,
        ref: str | None = None,
        after_seq: int | None = None,
        before_seq: int | None = None,
        descending: bool = False,
        limit: int | None = None,
        where: dict[str, list[Any]] | None = None,
    ) -> list[tuple[int, dict[str, Any]]]:
        """(seq, data) pairs of a kind, filtered and ordered by sequence.

        `where` maps a top-level JSON field to the values it may take.
        """
        sql = ["SELECT seq, data FROM records WHERE kind = ?"]
        args: list[Any] = [kind]
        if parent is not None:
            sql.append("AND parent = ?")
            args.append(parent)
        if ref is not None:
            sql.append("AND ref = ?")
            args.append(ref)
        if after_seq is not None:
            sql.append("AND seq > ?")
            args.append(after_seq)
        if before_seq is not None:
            sql.append("AND seq < ?")
            args.append(before_seq)
        for key, values in (where or {}).items():
            if not key.replace("_", "").isalnum():
                raise ValueError(f"bad field name {key!r}")
            marks = ", ".join("?" for _ in values)
            sql.append(f"AND json_extract(data, '$.{key}') IN ({marks})")
            args.extend(values)
        sql.append("ORDER BY seq DESC" if descending else "ORDER BY seq")
        if limit is not None:
            sql.append("LIMIT ?")
            args.append(limit)
        with self._lock:
            rows = self._db.execute(" ".join(sql), args).fetchall()
        return [(int(row["seq"]), json.loads(row["data"])) for row in rows]

    def count(self, kind: str) -> int:
        """How many documents of a kind exist."""
        with self._lock:
            return int(
                self._db.execute("SELECT COUNT(*) FROM records WHERE kind = ?", (kind,)).fetchone()[
                    0
                ]
            )

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

    def clear(self) -> None:
        """Remove every document and setting."""
        with self.transaction():
            self._db.execute("DELETE FROM records")
            self._db.execute("DELETE FROM meta")

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

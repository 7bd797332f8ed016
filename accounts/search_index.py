"""Substring search over people and organizations, served by an index on either database.

PostgreSQL: a pg_trgm GIN index on one lower-cased text per row, queried with LIKE '%…%'.
SQLite: an FTS5 trigram table (contentless, kept by triggers), queried with MATCH.
Both need at least three characters (one trigram); shorter queries stay prefix searches.
"""

# ruff: noqa: S608, S611 - table and column names come from INDEXED; user text is a parameter.

from __future__ import annotations

import re
from typing import Any

from django.db import connection
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL

MIN_LENGTH = 3

# table -> the text searched for each row (SQL over the row's columns)
INDEXED = {
    "accounts_provideruser": "email || ' ' || first_name || ' ' || last_name || ' ' || external_id",
    "accounts_organization": "name || ' ' || external_id",
}


def _fts(table: str) -> str:
    return f"{table}_search"


def _rows_text(table: str, row: str) -> str:
    """The searched text over a trigger's `new` or `old` row."""
    return re.sub(r"(?<![\w.])([a-z_]+)(?![\w'])", rf"{row}.\1", INDEXED[table])


def create_statements(vendor: str) -> list[str]:
    """DDL that builds the search indexes (and, on SQLite, keeps them up to date)."""
    if vendor == "postgresql":
        return ["CREATE EXTENSION IF NOT EXISTS pg_trgm"] + [
            f"CREATE INDEX IF NOT EXISTS {table}_trgm ON {table} "
            f"USING gin ((lower({text})) gin_trgm_ops)"
            for table, text in INDEXED.items()
        ]
    statements = []
    for table, text in INDEXED.items():
        fts = _fts(table)
        new, old = _rows_text(table, "new"), _rows_text(table, "old")
        delete = f"INSERT INTO {fts}({fts}, rowid, text) VALUES ('delete', old.id, {old});"
        insert = f"INSERT INTO {fts}(rowid, text) VALUES (new.id, {new});"
        statements += [
            f"CREATE VIRTUAL TABLE {fts} USING fts5(text, content='', tokenize='trigram')",
            f"INSERT INTO {fts}(rowid, text) SELECT id, {text} FROM {table}",
            f"CREATE TRIGGER {fts}_insert AFTER INSERT ON {table} BEGIN {insert} END",
            f"CREATE TRIGGER {fts}_delete AFTER DELETE ON {table} BEGIN {delete} END",
            f"CREATE TRIGGER {fts}_update AFTER UPDATE ON {table} BEGIN {delete} {insert} END",
        ]
    return statements


def drop_statements(vendor: str) -> list[str]:
    """DDL that removes what create_statements built."""
    if vendor == "postgresql":
        return [f"DROP INDEX IF EXISTS {table}_trgm" for table in INDEXED]
    statements = []
    for table in INDEXED:
        fts = _fts(table)
        statements += [
            f"DROP TRIGGER IF EXISTS {fts}_{event}" for event in ("insert", "delete", "update")
        ]
        statements.append(f"DROP TABLE IF EXISTS {fts}")
    return statements


def containing(table: str, text: str) -> RawSQL:
    """A condition on `table`'s rows: their searched text contains `text` (any case).

    A condition rather than a limited list of keys, so scope and other filters apply before
    the caller's LIMIT: a list cut first could hold none of the rows the viewer may see.
    """
    if connection.vendor == "postgresql":
        pattern = (
            "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        )
        # Columns named through the table, so joins cannot make them ambiguous; the planner
        # still matches the expression of the trigram index.
        sql = f"lower({_rows_text(table, table)}) LIKE %s"
        return RawSQL(sql, (pattern,), output_field=BooleanField())
    phrase = '"' + text.replace('"', '""') + '"'
    fts = _fts(table)
    sql = f"{table}.id IN (SELECT rowid FROM {fts} WHERE {fts} MATCH %s)"
    return RawSQL(sql, (phrase,), output_field=BooleanField())


def supported(text: str) -> bool:
    """Whether `text` is long enough for a substring search."""
    return len(text) >= MIN_LENGTH


def migrate_forward(apps: Any, schema_editor: Any) -> None:
    for statement in create_statements(schema_editor.connection.vendor):
        schema_editor.execute(statement)


def migrate_backward(apps: Any, schema_editor: Any) -> None:
    for statement in drop_statements(schema_editor.connection.vendor):
        schema_editor.execute(statement)

"""Many rows into one table in one go: COPY on PostgreSQL, executemany elsewhere.

The bulk writers (sync, the audit log and its tree) insert thousands of rows at a time;
building model instances or one INSERT per row costs more than the database's own work.
"""

# Statements are built from model metadata only (table and column names); every value is
# a query parameter or a COPY row.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection


def insert_rows(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Insert `rows`, values in `columns` order as the database adapter takes them.

    `table` and `columns` are unquoted names (a model's db_table and columns).
    """
    quote = connection.ops.quote_name
    names = ", ".join(quote(column) for column in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # one stream, no statement per row
            with cursor.cursor.copy(f"COPY {quote(table)} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {quote(table)} ({names}) VALUES ({marks})", rows)

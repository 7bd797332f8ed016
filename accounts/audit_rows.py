"""The audit events in sequence order as the verifier needs them: links and canonical bytes.

On SQLite the database itself writes each event's canonical JSON (json_object over the fields
in sorted key order, JSON columns through json()), so a million-event walk builds no Python
object per field. What the database writes is only a candidate: the verifier accepts it when
it hashes to the stored hash (then it is the hashed text, and json() guarantees each JSON column
is one well-formed value, so no field's content can have moved into another). When it does not
hash right, the canonical bytes are recomputed in Python from the row (canonical_of), as on
PostgreSQL for every row: JSON written by another encoder (older rows), or a tampered row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime

from django.db import connection

from accounts.audit import _CANONICAL, HASHED_FIELDS, _utc_iso
from accounts.models import AuditEvent

# (sequence, prev_hash, stored hash, canonical bytes as read or recomputed)
Row = tuple[int, str, str, bytes]

SORTED_FIELDS = tuple(sorted(HASHED_FIELDS))
_JSON_FIELDS = frozenset(("after", "before", "data"))
_OCCURRED = SORTED_FIELDS.index("occurred_at")


def _sqlite_canonical_sql() -> str:
    """json_object() over the hashed fields in canonical order, with the row's links."""
    quote = connection.ops.quote_name
    parts = []
    for name in SORTED_FIELDS:
        column = quote(AuditEvent._meta.get_field(name).column)
        if name in _JSON_FIELDS:
            value = f"json({column})"
        elif name == "occurred_at":
            # Stored as 'YYYY-MM-DD HH:MM:SS[.ffffff]' in UTC; canonical is ISO 8601, microseconds.
            value = (
                f"replace({column}, ' ', 'T') || "
                f"CASE WHEN length({column}) = 19 THEN '.000000' ELSE '' END || '+00:00'"
            )
        else:
            value = column
        parts.append(f"'{name}', {value}")
    return (
        f"SELECT {quote('sequence')}, {quote('prev_hash')}, {quote('hash')}, "  # noqa: S608
        f"json_object({', '.join(parts)}) FROM {quote(AuditEvent._meta.db_table)} "
        f"ORDER BY {quote('sequence')}"
    )


def rows(chunk_size: int = 2000) -> Iterator[Row]:
    """Every event's (sequence, prev_hash, hash, canonical bytes), in sequence order."""
    after = 0
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        # The driver's own cursor: Django's wrapper costs more per row than the row does.
        cursor = connection.connection.cursor()
        try:
            cursor.execute(_sqlite_canonical_sql())
            while batch := cursor.fetchmany(chunk_size):
                for sequence, prev_hash, stored, text in batch:
                    yield sequence, prev_hash, stored, text.encode()
                    after = sequence
        except sqlite3.OperationalError:
            pass  # a JSON column that is not JSON: the rest is read and encoded in Python
        else:
            return
        finally:
            cursor.close()
    values = AuditEvent.objects.filter(sequence__gt=after).order_by("sequence")
    at_sequence, at_prev = SORTED_FIELDS.index("sequence"), SORTED_FIELDS.index("prev_hash")
    for row in values.values_list(*SORTED_FIELDS, "hash").iterator(chunk_size=chunk_size):
        yield row[at_sequence], row[at_prev], row[-1], _encode(row)


def _encode(row: tuple) -> bytes:
    # Rows in canonical key order make dicts the encoder's sort_keys pass finds already sorted.
    payload = dict(zip(SORTED_FIELDS, row, strict=False))
    occurred = row[_OCCURRED]
    if isinstance(occurred, datetime):
        payload["occurred_at"] = _utc_iso(occurred)
    return _CANONICAL.encode(payload).encode()


def canonical_of(sequence: int) -> bytes | None:
    """The event's canonical bytes computed in Python from its stored fields (None: no event)."""
    row = AuditEvent.objects.filter(sequence=sequence).values_list(*SORTED_FIELDS).first()
    return None if row is None else _encode(row)

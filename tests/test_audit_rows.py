"""The verifier's row stream: the canonical bytes as the database writes them equal the app's."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from django.db import connection

from accounts import audit, audit_rows, audit_tree
from accounts.audit import EventSpec, canonical, record_events, verify_chain
from accounts.merkle import leaf_hash
from accounts.models import AuditEvent, Outcome
from tests.fixtures.audit import set_audit_triggers

pytestmark = pytest.mark.django_db

AWKWARD = [
    'quote " backslash \\ slash /',
    "controls \x01\x1f\x7f tab\t newline\n return\r",
    "unicode é ß 😀 \u2028 \u2029 \ufeff",
    "",
]


def awkward_specs() -> list[EventSpec]:
    return [
        EventSpec(
            event_type="test.awkward",
            outcome=Outcome.RECORDED,
            reason=text,
            before=None if i % 2 else {"z": [1, 2.5, -3], "a": text, "n": None},
            after={"nested": {"b": True, "a": [text, {}]}, "big": 2**63},
            data={"é": text} if i % 2 else {},
            correlation_id=str(i),
        )
        for i, text in enumerate(AWKWARD)
    ]


def test_streamed_canonical_bytes_equal_the_apps_for_awkward_values(monkeypatch):
    # One event on a whole second: the stored time has no fraction, the canonical one does.
    monkeypatch.setattr(audit.timezone, "now", lambda: datetime(2026, 12, 2, 12, 0, tzinfo=UTC))
    record_events(awkward_specs()[:1])
    monkeypatch.undo()
    record_events(awkward_specs())
    expected = [canonical(e).encode() for e in AuditEvent.objects.order_by("sequence")]
    streamed = [row[3] for row in audit_rows.rows(chunk_size=2)]
    assert streamed == expected
    assert verify_chain().ok


def test_rows_written_with_another_json_encoding_still_verify():
    # Rows as Django's own JSON encoding stores them (spaces, unsorted keys, ASCII escapes),
    # as events written before the app stored canonical JSON text.
    record_events(awkward_specs()[:1])
    sequence, prev_hash = AuditEvent.objects.values_list("sequence", "hash").first()
    events, leaves = [], []
    for spec in awkward_specs():
        sequence += 1
        event = audit._build(spec, sequence, prev_hash)
        data = canonical(event).encode()
        event.hash = prev_hash = hashlib.sha256(prev_hash.encode() + data).hexdigest()
        leaves.append(leaf_hash(data))
        events.append(event)
    first = sequence - len(events)
    AuditEvent.objects.bulk_create(events)
    audit_tree.write_nodes(audit_tree.new_nodes(first, leaves))
    result = verify_chain()
    assert (result.ok, result.count) == (True, sequence)
    assert result.roots[sequence] == audit_tree.root(sequence)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="jsonb cannot hold text that is not JSON")
def test_json_column_that_is_not_json_is_a_content_mismatch():
    record_events(awkward_specs())
    set_audit_triggers(installed=False)
    with connection.cursor() as cursor:  # past the JSON_VALID check, as the file's owner can
        cursor.execute("PRAGMA ignore_check_constraints = ON")
        cursor.execute("UPDATE accounts_auditevent SET data = '{\"x\":' WHERE sequence = 3")
        cursor.execute("PRAGMA ignore_check_constraints = OFF")
    result = verify_chain()
    assert (result.ok, result.broken_at, result.problem) == (
        False,
        3,
        "content does not match its hash",
    )


@pytest.mark.skipif(connection.vendor != "sqlite", reason="jsonb cannot hold text that is not JSON")
def test_text_shifted_from_one_json_column_into_another_is_a_content_mismatch():
    record_events(awkward_specs())
    event = AuditEvent.objects.get(sequence=1)
    shifted = (
        audit._CANONICAL.encode(event.after) + ',"before":' + audit._CANONICAL.encode(event.before)
    )
    set_audit_triggers(installed=False)
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA ignore_check_constraints = ON")
        cursor.execute(
            "UPDATE accounts_auditevent SET after = %s, before = NULL WHERE sequence = 1",
            [shifted],
        )
        cursor.execute("PRAGMA ignore_check_constraints = OFF")
    result = verify_chain()
    assert (result.ok, result.broken_at, result.problem) == (
        False,
        1,
        "content does not match its hash",
    )

"""The audit log's hash chain: verification, tamper detection and concurrent writers."""

from __future__ import annotations

import io
import threading

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from accounts import services
from accounts.audit import compute_hash, last_verification, record_event, verify_chain
from accounts.context import audit_context
from accounts.models import AuditEvent, Channel, MirrorStatus, Outcome
from tests.factories import MembershipFactory
from tests.fixtures.audit import assert_audited, set_audit_triggers

pytestmark = pytest.mark.django_db

ON_POSTGRES = django_settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


def record(n: int) -> list[AuditEvent]:
    return [
        record_event(event_type="test.recorded", outcome=Outcome.RECORDED, reason=f"event {i}")
        for i in range(n)
    ]


def verify() -> str:
    out = io.StringIO()
    call_command("verify_audit_log", stdout=out)
    return out.getvalue()


def tamper(sql: str, params: list) -> None:
    """Change the log behind the application's back, as someone with database access could."""
    set_audit_triggers(installed=False)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_intact_chain_verifies_and_the_result_is_remembered():
    record(5)
    assert verify().splitlines()[-1] == "audit log verified: 5 events"
    remembered = last_verification()
    assert (remembered["ok"], remembered["count"], remembered["broken_at"]) == (True, 5, None)


def test_empty_log_verifies():
    assert verify().splitlines()[-1] == "audit log verified: 0 events"


def test_altered_row_fails_verification_at_its_sequence():
    record(5)
    tamper("UPDATE accounts_auditevent SET reason = %s WHERE sequence = %s", ["forged", 3])
    with pytest.raises(CommandError) as caught:
        verify()
    assert caught.value.returncode == 1
    assert "event #3" in str(caught.value)
    assert "does not match its hash" in str(caught.value)
    assert last_verification()["broken_at"] == 3


def test_altered_row_with_recomputed_hash_breaks_the_next_link():
    events = record(5)
    forged = events[2]
    forged.reason = "forged"
    tamper(
        "UPDATE accounts_auditevent SET reason = %s, hash = %s WHERE sequence = %s",
        ["forged", compute_hash(forged), 3],
    )
    result = verify_chain()
    assert (result.ok, result.broken_at) == (False, 4)
    assert "previous-hash" in result.problem


def test_deleted_row_is_reported_missing():
    record(5)
    tamper("DELETE FROM accounts_auditevent WHERE sequence = %s", [2])
    with pytest.raises(CommandError) as caught:
        verify()
    assert "event #2 is missing" in str(caught.value)


FLOATS = {"x": 1e20, "y": -0.0, "z": 0.1, "big": 1.5e300, "tiny": 1.5e-10, "third": 1 / 3}


def test_floats_hash_the_same_after_a_round_trip_through_the_json_columns():
    """PostgreSQL's jsonb rewrites 1e20 as 100000000000000000000 and -0.0 as 0: what is
    stored must be what was hashed, on either database."""
    event = record_event(
        event_type="test.recorded",
        outcome=Outcome.RECORDED,
        data=FLOATS,
        before={"nested": [FLOATS]},
        after=2.5e16,
    )
    stored = AuditEvent.objects.get(sequence=event.sequence)
    assert (stored.data, stored.before, stored.after) == (event.data, event.before, event.after)
    assert compute_hash(stored) == stored.hash
    assert verify_chain().ok
    assert verify().splitlines()[-1] == "audit log verified: 1 events"
    assert stored.data["z"] == 0.1
    assert stored.data["third"] == 1 / 3


def test_events_carry_the_request_context(app_provider, manager):
    membership = MembershipFactory(status=MirrorStatus.ACTIVE)
    with audit_context(via=Channel.API, client_ip="203.0.113.9", user_agent="curl/8", token_id=7):
        services.reactivate_membership(actor=manager, membership=membership)
    event = assert_audited("membership.reactivated", target=membership, outcome=Outcome.NOOP)
    assert (event.via, event.client_ip, event.user_agent, event.token_id) == (
        "api",
        "203.0.113.9",
        "curl/8",
        7,
    )
    assert event.request_id
    assert event.actor_repr == manager.username
    assert event.organization_external_id == membership.organization.external_id
    assert event.user_external_id == membership.user.external_id


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    not ON_POSTGRES,
    reason="threads on the shared in-memory SQLite test database get 'table locked', not a wait",
)
def test_concurrent_writers_never_fork_the_chain():
    writers, per_writer = 8, 25
    before = AuditEvent.objects.count()  # the staff groups' creation is audited too
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            barrier.wait(timeout=10)
            for i in range(per_writer):
                record_event(
                    event_type="test.recorded", outcome=Outcome.RECORDED, reason=f"{worker}/{i}"
                )
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    total = before + writers * per_writer
    assert list(AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True)) == list(
        range(1, total + 1)
    )
    assert verify_chain().count == total
    assert verify().splitlines()[-1] == f"audit log verified: {total} events"


def test_no_audit_index_repeats_the_start_of_another():
    # Every index costs every append (a large sync appends hundreds of thousands of events):
    # one whose columns begin another index (or equal it) serves no query the other cannot.
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, AuditEvent._meta.db_table)
    indexes = {
        name: tuple(details["columns"])
        for name, details in found.items()
        if details["index"] and not details["primary_key"]
    }
    assert {"audit_actor_idx", "audit_type_idx"} <= set(indexes)
    redundant = [
        (name, other)
        for name, columns in indexes.items()
        for other, longer in indexes.items()
        if other != name and longer[: len(columns)] == columns
    ]
    assert redundant == []

"""PostgreSQL least privilege: the runtime role cannot update, delete or unprotect audit rows."""

from __future__ import annotations

import io
import os

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection

from accounts.audit import record_event
from accounts.checks import check_audit_role
from accounts.db_roles import audit_write_powers
from accounts.models import AuditEvent, Outcome

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def runtime_role():
    """A login role granted exactly what `manage.py audit_db_roles` prints; dropped after."""
    role = f"karmo_runtime_{os.getpid()}"
    out = io.StringIO()
    call_command("audit_db_roles", role, stdout=out, stderr=io.StringIO())
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{role}" LOGIN')
        for statement in out.getvalue().splitlines():
            cursor.execute(statement)
    settings = connection.settings_dict
    runtime = psycopg.connect(
        host=settings["HOST"],
        port=settings["PORT"],
        dbname=settings["NAME"],
        user=role,
        autocommit=True,
    )
    try:
        yield runtime
    finally:
        runtime.close()
        with connection.cursor() as cursor:
            cursor.execute(f'DROP OWNED BY "{role}"')
            cursor.execute(f'DROP ROLE "{role}"')


def refused(runtime: psycopg.Connection, statement: str) -> str:
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as caught:
        runtime.execute(statement)
    return str(caught.value)


def test_runtime_role_reads_and_appends_but_cannot_rewrite_history(runtime_role):
    before = AuditEvent.objects.count()  # the staff groups' creation is audited too
    record_event(event_type="test.recorded", outcome=Outcome.RECORDED)
    counted = runtime_role.execute("SELECT count(*) FROM accounts_auditevent").fetchone()
    assert counted == (before + 1,)
    runtime_role.execute(
        "INSERT INTO accounts_audittreenode (level, position, hash) VALUES (30, 0, '\\x00')"
    )
    assert "permission denied" in refused(
        runtime_role, "UPDATE accounts_auditevent SET reason = 'forged'"
    )
    assert "permission denied" in refused(runtime_role, "DELETE FROM accounts_auditevent")
    assert "permission denied" in refused(runtime_role, "TRUNCATE accounts_auditevent")
    assert "must be owner" in refused(
        runtime_role, "ALTER TABLE accounts_auditevent DISABLE TRIGGER USER"
    )
    assert "session_replication_role" in refused(
        runtime_role, "SET session_replication_role = replica"
    )
    assert "permission denied" in refused(runtime_role, "DELETE FROM accounts_audittreenode")


def test_check_warns_for_a_superuser_and_not_for_the_runtime_role(runtime_role):
    assert [w.id for w in check_audit_role()] == ["accounts.W001"]  # tests connect as postgres
    assert "superuser" in check_audit_role()[0].msg

    class Runtime:  # audit_write_powers() needs only vendor and cursor()
        vendor = "postgresql"

        def cursor(self):
            return runtime_role.cursor()

    assert audit_write_powers(Runtime()) == []

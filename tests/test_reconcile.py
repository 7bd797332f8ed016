"""reconcile settles attempts left without an outcome by a crash between provider call and commit.

The crash test runs the service in a child process that a receiver of the services'
`provider_change_returned` signal ends with os._exit right after the provider answered:
no exception handler, no finally block and no commit runs, exactly as if the process
were killed. The child uses its own SQLite file (the test database lives in this process)
and the session's WorkOS emulator over loopback; `manage.py reconcile` and
`manage.py verify_audit_log` then run as further processes on that file.
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts import approvals, services
from accounts.audit import record_event
from accounts.errors import ErrorCode
from accounts.models import (
    AuditEvent,
    MirrorStatus,
    OrganizationMembership,
    Outcome,
    RequestStatus,
)
from accounts.services.reconcile import open_attempts
from providers.emulators.workos import EMULATOR_API_KEY
from tests.fixtures.app_provider import membership_in, memberships_in
from tests.fixtures.audit import assert_audited

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(django_settings.BASE_DIR)


class Crash(BaseException):
    """Stands for the process dying: no `except Exception` catches it."""


def crash(**kwargs) -> None:
    raise Crash


@pytest.fixture
def crashing():
    """Make every service die right after its provider call returns."""
    services.provider_change_returned.connect(crash, dispatch_uid="test-crash")
    yield
    services.provider_change_returned.disconnect(dispatch_uid="test-crash")


def inactive_membership(index: int = 0) -> OrganizationMembership:
    return memberships_in(MirrorStatus.INACTIVE)[index]


def run_reconcile(*args: str) -> str:
    out = io.StringIO()
    call_command("reconcile", "--grace", "0", *args, stdout=out)
    return out.getvalue()


def test_interrupted_reactivation_is_settled_from_provider_state(mirrored, manager, crashing):
    target = inactive_membership()
    with pytest.raises(Crash):
        services.reactivate_membership(actor=manager, membership=target, reason="renewed")
    target.refresh_from_db()
    assert target.status == MirrorStatus.INACTIVE
    assert mirrored.get_membership(target.external_id).status == "active"
    attempt = assert_audited("membership.reactivated", target=target, outcome=Outcome.ATTEMPTED)
    assert [a.sequence for a in open_attempts(older_than=attempt.occurred_at)] == [attempt.sequence]

    assert "reconciled 0 attempts, 0 left open" in run_reconcile("--grace", "3600")
    assert "reconciled 1 attempts, 0 left open" in run_reconcile()
    target.refresh_from_db()
    assert target.status == MirrorStatus.ACTIVE
    outcome = assert_audited("membership.reactivated", target=target, outcome=Outcome.SUCCEEDED)
    assert outcome.correlation_id == attempt.correlation_id
    assert outcome.data["reconciled"] is True
    assert outcome.data["attempt"] == attempt.sequence
    assert outcome.actor == manager
    assert (outcome.before["status"], outcome.after["status"]) == ("inactive", "active")
    assert "reconciled 0 attempts" in run_reconcile()


def test_interrupted_approval_ends_the_request_executed(
    mirrored, help_desk, manager, crashing, mailoutbox
):
    request = approvals.request_reactivation(
        actor=help_desk, target=inactive_membership(), reason="renewed"
    )
    with pytest.raises(Crash):
        approvals.approve_request(actor=manager, request=request)
    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED
    run_reconcile()
    request.refresh_from_db()
    assert request.status == RequestStatus.EXECUTED
    assert_audited("request.executed", target=request, correlation_id=request.correlation_id)
    assert mailoutbox[-1].to == [help_desk.email]


def test_attempt_the_provider_never_saw_is_settled_as_failed(mirrored, manager):
    target = inactive_membership(1)
    record_event(
        event_type="membership.reactivated",
        outcome=Outcome.ATTEMPTED,
        actor=manager,
        target=target,
        correlation_id="c0ffee00-0000-4000-8000-000000000001",
        before={"status": "inactive"},
    )
    run_reconcile()
    outcome = assert_audited("membership.reactivated", target=target, outcome=Outcome.FAILED)
    assert outcome.error_code == ErrorCode.CHANGE_NOT_CONFIRMED.code
    assert outcome.data["reconciled"] is True
    target.refresh_from_db()
    assert target.status == MirrorStatus.INACTIVE


def test_interrupted_role_change_and_user_creation_are_settled(mirrored, manager, crashing):
    membership = membership_in(MirrorStatus.ACTIVE)
    wanted = ["member"] if membership.role_slugs == ["org-viewer"] else ["org-viewer"]
    with pytest.raises(Crash):
        services.set_membership_roles(actor=manager, membership=membership, roles=wanted)
    with pytest.raises(Crash):
        services.create_user(actor=manager, email="late.arrival@globex-health.example")
    with pytest.raises(Crash):
        services.upsert_organization_role(
            actor=manager, organization=membership.organization, slug="org-late", name="Late"
        )
    assert "reconciled 3 attempts, 0 left open" in run_reconcile()
    assert membership.role_slugs == wanted
    created = assert_audited("user.created", outcome=Outcome.SUCCEEDED)
    assert created.data["reconciled"] is True
    assert created.target_id.startswith("user_")
    role = assert_audited("role.upserted", outcome=Outcome.SUCCEEDED)
    assert role.after["slug"] == "org-late"
    assert membership.organization.roles.filter(slug="org-late").exists()


def test_provider_outage_leaves_attempts_open_for_the_next_run(
    mirrored, manager, crashing, workos_emulator
):
    target = inactive_membership()
    with pytest.raises(Crash):
        services.reactivate_membership(actor=manager, membership=target)
    workos_emulator.app.faults.configure({"fail": [503]})
    with pytest.raises(CommandError) as caught:
        run_reconcile()
    assert caught.value.returncode == 2
    changes = AuditEvent.objects.exclude(event_type__startswith="staff.")
    assert not changes.filter(outcome=Outcome.SUCCEEDED).exists()
    assert "reconciled 1 attempts" in run_reconcile()


def test_attempt_settled_by_reconcile_while_in_flight_gets_one_outcome(mirrored, manager):
    def reconcile_meanwhile(**kwargs) -> None:
        run_reconcile()  # as a reconcile run would if this call outlived the grace period

    services.provider_change_returned.connect(reconcile_meanwhile, dispatch_uid="test-meanwhile")
    try:
        change = services.reactivate_membership(actor=manager, membership=inactive_membership())
    finally:
        services.provider_change_returned.disconnect(dispatch_uid="test-meanwhile")
    assert change.target.status == MirrorStatus.ACTIVE
    outcome = assert_audited("membership.reactivated", outcome=Outcome.SUCCEEDED, count=1)
    assert outcome.data["reconciled"] is True
    assert "reconciled 0 attempts, 0 left open" in run_reconcile()


CRASH_SCRIPT = """
import os, sys
import django
django.setup()
from django.contrib.auth.models import Group, User
from accounts import services
from accounts.models import OrganizationMembership
from accounts.permissions import MANAGER
from providers.registry import get_provider
from tests.fixtures.app_provider import load_mirror

provider = get_provider()
load_mirror(provider)
provider.close()
manager = User.objects.create_user("max.manager", "max@karmo.example")
manager.groups.add(Group.objects.get(name=MANAGER))
target = OrganizationMembership.objects.filter(status="inactive").order_by("external_id").first()
print(target.external_id, flush=True)
services.provider_change_returned.connect(lambda **kw: os._exit(70), weak=False)
services.reactivate_membership(actor=manager, membership=target, reason="renewed")
print("not reached", flush=True)
"""


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


NOT_STAFF = "event_type NOT LIKE 'staff.%'"


def _rows(path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute(sql).fetchall()


@pytest.mark.django_db
def test_process_killed_between_provider_call_and_commit_is_reconciled(
    tmp_path, workos_emulator, workos_provider
):
    database = tmp_path / "crash.sqlite3"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "karmo_admin.settings",
        "DATABASE_URL": f"sqlite:///{database}",
        "KARMO_PROVIDER": "workos",
        "WORKOS_API_KEY": EMULATOR_API_KEY,
        "WORKOS_BASE_URL": workos_emulator.url,
        "KARMO_PROVIDER_MAX_RETRIES": "0",
        "KARMO_SANDBOX_DIR": str(tmp_path / "sandbox"),
    }
    migrated = _run(["manage.py", "migrate", "-v", "0"], env)
    assert migrated.returncode == 0, migrated.stderr

    crashed = _run(["-c", CRASH_SCRIPT], env)
    assert crashed.returncode == 70, crashed.stderr
    assert "not reached" not in crashed.stdout
    external_id = crashed.stdout.split()[0]
    assert workos_provider.get_membership(external_id).status == "active"
    events = _rows(
        database, f"SELECT event_type, outcome FROM accounts_auditevent WHERE {NOT_STAFF}"
    )
    assert events == [("membership.reactivated", "attempted")]
    status_sql = (
        f"SELECT status FROM accounts_organizationmembership WHERE external_id = '{external_id}'"
    )
    assert _rows(database, status_sql) == [("inactive",)]

    reconciled = _run(["manage.py", "reconcile", "--grace", "0"], env)
    assert reconciled.returncode == 0, reconciled.stderr
    assert "reconciled 1 attempts, 0 left open" in reconciled.stdout
    assert _rows(database, status_sql) == [("active",)]
    outcome = _rows(
        database,
        f"SELECT outcome, correlation_id, data FROM accounts_auditevent WHERE {NOT_STAFF} "
        "ORDER BY sequence",
    )
    assert [row[0] for row in outcome] == ["attempted", "succeeded"]
    assert outcome[0][1] == outcome[1][1]
    assert json.loads(outcome[1][2])["reconciled"] is True

    verified = _run(["manage.py", "verify_audit_log"], env)
    assert verified.returncode == 0, verified.stderr
    # The script's manager account (staff.user_created, staff.groups_changed) is in the chain too.
    staff = _rows(database, "SELECT event_type FROM accounts_auditevent ORDER BY sequence")[:-2]
    assert {row[0] for row in staff} == {"staff.user_created", "staff.groups_changed"}
    total = len(staff) + 2
    assert verified.stdout.strip().splitlines()[-1] == f"audit log verified: {total} events"

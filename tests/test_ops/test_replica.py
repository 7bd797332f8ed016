"""DATABASE_REPLICA_URL: lag-tolerant reads come from the replica, everything else from the
primary. On PostgreSQL, with a second database standing in for the replica and holding
different rows, so each answer shows which database it was read from."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from django.db import transaction
from django.test import RequestFactory
from django.urls import resolve

from accounts.models import ApiToken, AuditEvent, Organization, SyncRun
from ops.routing import (
    REPLICA,
    ReplicaRouter,
    replica_allowed,
    start_replica_reads,
    stop_replica_reads,
)
from providers.emulators.workos import EMULATOR_API_KEY
from tests.test_ops.stack import (
    STAFF_PASSWORD,
    Stack,
    free_port,
    make_stack,
    scratch_database,
    stop,
    wait_ready,
)

MARK_REPLICA = """
from accounts.audit import record_event
from accounts.models import Organization, Outcome
Organization.objects.create(provider="workos", external_id="org_replica_only", name="Replica Org")
record_event(event_type="replica.marker", outcome=Outcome.RECORDED, reason="only here")
"""


@pytest.fixture
def replica_setting(settings):
    settings.DATABASES = {**settings.DATABASES, REPLICA: dict(settings.DATABASES["default"])}


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
@pytest.mark.django_db(transaction=True)  # no test-wide transaction: atomic() is part of the test
def test_the_router_sends_only_lag_tolerant_models_to_the_replica(replica_setting):
    router = ReplicaRouter()
    assert router.db_for_read(AuditEvent) == "default"
    token = start_replica_reads()
    try:
        assert router.db_for_read(AuditEvent) == REPLICA
        assert router.db_for_read(Organization) == REPLICA
        for pinned in (ApiToken, SyncRun):
            assert router.db_for_read(pinned) == "default"
        with transaction.atomic():
            assert router.db_for_read(AuditEvent) == "default"
        router.db_for_write(ApiToken)  # bookkeeping: the replica still serves
        assert router.db_for_read(AuditEvent) == REPLICA
        router.db_for_write(AuditEvent)
        assert router.db_for_read(AuditEvent) == "default", "read-after-write"
    finally:
        stop_replica_reads(token)
    assert router.allow_migrate(REPLICA, "accounts") is False


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/audit/", True),
        ("GET", "/audit/export.csv", True),
        ("GET", "/api/v1/orgs", True),
        ("POST", "/api/v1/orgs/o/users/u/reactivate", False),
        ("GET", "/approvals/", False),
        ("GET", "/people/1/", False),
    ],
)
def test_which_requests_may_read_the_replica(replica_setting, method, path, allowed):
    request = RequestFactory().generic(method, path)
    request.resolver_match = resolve(path)
    assert replica_allowed(request) is allowed


def login(client: httpx.Client, username: str) -> None:
    form = client.get("/login/").text
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    answer = client.post(
        "/login/",
        data={"username": username, "password": STAFF_PASSWORD, "csrfmiddlewaretoken": csrf},
        headers={"Referer": f"{client.base_url}/login/"},
    )
    assert answer.status_code == 302, answer.text[:500]


@pytest.mark.postgres
def test_reads_of_lag_tolerant_pages_come_from_the_replica_and_writes_go_to_the_primary(
    workos_emulator, tmp_path
):
    workos_emulator.app.reset()
    with scratch_database() as primary_url, scratch_database("karmo_replica") as replica_url:
        stack = make_stack(primary_url, tmp_path, workos_emulator.url, EMULATOR_API_KEY)
        replica = Stack({**stack.env, "DATABASE_URL": replica_url})
        replica.manage("migrate", "--verbosity", "0")
        replica.manage("shell", "-c", MARK_REPLICA)
        stack.env["DATABASE_REPLICA_URL"] = replica_url
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = stack.start(
            "serve_prod", "--bind", f"127.0.0.1:{port}", "--web", "1", "--task-workers", "0",
            log=tmp_path / "serve.log",
        )  # fmt: skip
        try:
            wait_ready(base, server, workers=0)
            headers = {"Authorization": f"Bearer {stack.tokens['boss.a']}"}
            with httpx.Client(base_url=f"{base}/api/v1", headers=headers, timeout=30) as api:
                # The token is checked on the primary (the replica has no tokens at all) ...
                orgs = api.get("/orgs").json()["data"]
                # ... and the list comes from the replica.
                assert [o["name"] for o in orgs] == ["Replica Org"]
                events = api.get("/audit-events", params={"limit": 200}).json()["data"]
                assert [e["eventType"] for e in events] == ["replica.marker"]
                inactive = stack.query(
                    "SELECT o.external_id, u.external_id FROM accounts_organizationmembership m "
                    "JOIN accounts_organization o ON o.id = m.organization_id "
                    "JOIN accounts_provideruser u ON u.id = m.user_id "
                    "WHERE m.status = 'inactive' ORDER BY m.id LIMIT 1"
                )[0]
                written = api.post(f"/orgs/{inactive[0]}/users/{inactive[1]}/reactivate")
                assert written.status_code == 200, written.text
            with httpx.Client(base_url=base, timeout=30) as browser:
                login(browser, "eye")
                assert "only here" in browser.get("/audit/").text
                # The streamed export keeps reading the replica after the view returned.
                export = browser.get("/audit/export.jsonl").text.splitlines()
                assert [json.loads(line)["event_type"] for line in export] == ["replica.marker"]
                approvals = browser.get("/approvals/")
                assert approvals.status_code == 200
        finally:
            stop(server)
        assert (
            stack.query(
                "SELECT count(*) FROM accounts_auditevent WHERE event_type LIKE 'membership.%%'"
            )[0][0]
            >= 1
        )
        assert replica.query("SELECT count(*) FROM accounts_auditevent")[0][0] == 1
        assert replica.query("SELECT count(*) FROM django_session")[0][0] == 0

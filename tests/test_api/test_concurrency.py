"""Concurrent API callers on PostgreSQL, with real threads (each its own connection)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from accounts.api.throttle import WINDOW_SECONDS
from accounts.audit import describe_target
from accounts.models import AuditEvent, MirrorStatus, OrganizationMembership, Outcome
from tests.fixtures.app_provider import memberships_in
from tests.test_api.conftest import ApiClient, make_token

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def together(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run `work(i)` in `count` threads released at once; their results in order."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[i] = work(i)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def reactivate_path(membership: OrganizationMembership) -> str:
    org, user = membership.organization.external_id, membership.user.external_id
    return f"/orgs/{org}/users/{user}/reactivate"


def audit_target_id(membership: OrganizationMembership) -> str:
    return describe_target(membership)["target_id"]


def test_twenty_concurrent_reactivations_make_one_provider_change(
    mirrored, manager, workos_emulator
):
    spare, target = memberships_in(MirrorStatus.INACTIVE)[:2]
    token = make_token(manager)
    before = workos_emulator.app.request_count
    assert ApiClient(token).post(reactivate_path(spare)).status_code == 200
    one_change = workos_emulator.app.request_count - before
    before = workos_emulator.app.request_count

    statuses = together(20, lambda _i: ApiClient(token).post(reactivate_path(target)).status_code)

    assert statuses == [200] * 20
    assert workos_emulator.app.request_count - before == one_change
    outcomes = Counter(
        AuditEvent.objects.filter(
            event_type="membership.reactivated", target_id=audit_target_id(target)
        ).values_list("outcome", flat=True)
    )
    assert outcomes == {Outcome.NOOP: 19, Outcome.ATTEMPTED: 1, Outcome.SUCCEEDED: 1}
    succeeded = AuditEvent.objects.get(
        event_type="membership.reactivated",
        outcome=Outcome.SUCCEEDED,
        target_id=audit_target_id(target),
    )
    assert succeeded.data["changed"] is True
    target.refresh_from_db()
    assert target.status == MirrorStatus.ACTIVE


def test_the_rate_limit_holds_exactly_under_eight_concurrent_clients(manager, settings):
    settings.KARMO_API_RATE_LIMIT = 20
    if time.time() % WINDOW_SECONDS > WINDOW_SECONDS - 10:  # keep the burst inside one window
        time.sleep(WINDOW_SECONDS - time.time() % WINDOW_SECONDS)
    token = make_token(manager)

    def burst(_i: int) -> list[int]:
        client = ApiClient(token)
        return [client.get("/orgs?limit=1").status_code for _ in range(10)]

    statuses = Counter(status for answers in together(8, burst) for status in answers)

    assert statuses == {200: 20, 429: 60}

"""Stytch and ZITADEL read concurrently within their budget, over loopback to a limited emulator.

(WorkOS's twins of these tests are in test_sync_budget.py.) Small pages make many requests
out of a small dataset, so the limit is reached and the pages of several lists overlap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from accounts.models import Organization, OrganizationMembership, ProviderUser, SyncRun
from accounts.sync import run_sync
from providers.budget import Budget
from providers.emulators import stytch as stytch_emulator
from providers.emulators import zitadel as zitadel_emulator
from providers.emulators.seed import generated_dataset
from providers.http import RetryPolicy
from providers.stytch import StytchProvider
from providers.zitadel import ZitadelProvider
from tests.fixtures.flavors import TEST_TIMEOUT

pytestmark = pytest.mark.django_db

DATASET = generated_dataset(24, 300, 900, seed=3)
PAGE_SIZE = 20
RETRY = RetryPolicy(max_retries=2, wait_initial=0.01, wait_max=0.05, retry_after_cap=2)


def stytch(url: str, budget: Budget | None) -> StytchProvider:
    return StytchProvider(
        project_id=stytch_emulator.PROJECT_ID,
        secret=stytch_emulator.SECRET,
        base_url=url,
        timeout=TEST_TIMEOUT * 5,
        retry=RETRY,
        page_size=PAGE_SIZE,
        budget=budget,
        concurrency=8,
    )


def zitadel(url: str, budget: Budget | None) -> ZitadelProvider:
    return ZitadelProvider(
        base_url=url,
        token=zitadel_emulator.DEFAULT_TOKEN,
        project_id=zitadel_emulator.PROJECT_ID,
        timeout=TEST_TIMEOUT * 5,
        retry=RETRY,
        page_size=PAGE_SIZE,
        budget=budget,
        concurrency=8,
    )


ADAPTERS: dict[str, Callable[[str, Budget | None], StytchProvider | ZitadelProvider]] = {
    "stytch": stytch,
    "zitadel": zitadel,
}


@pytest.fixture(params=sorted(ADAPTERS))
def limited(request: pytest.FixtureRequest) -> Iterator[tuple[str, object, dict[str, int]]]:
    """(flavor, emulator app, what an unlimited read lists) on the loaded emulator."""
    running = request.getfixturevalue(f"{request.param}_emulator")
    app = running.app
    app.reset(DATASET)
    app.realism.reset()
    reader = ADAPTERS[request.param](running.url, None)
    try:
        expected = {
            "organizations": sum(1 for _ in reader.list_organizations()),
            "users": len({user.id for user in reader.list_users()}),
            "memberships": sum(1 for _ in reader.list_memberships()),
        }
    finally:
        reader.close()
    app.realism.reset_stats()
    yield request.param, running, expected
    app.realism.reset()
    app.reset()


def synced(flavor: str, url: str, rate: float) -> tuple[SyncRun, StytchProvider | ZitadelProvider]:
    adapter = ADAPTERS[flavor](url, Budget(rate))
    try:
        return run_sync(provider=adapter), adapter
    finally:
        adapter.close()


def assert_mirrored(expected: dict[str, int]) -> None:
    assert Organization.objects.count() == expected["organizations"]
    assert ProviderUser.objects.count() == expected["users"]
    assert OrganizationMembership.objects.count() == expected["memberships"]


def test_concurrent_sync_never_goes_over_the_limit(limited) -> None:
    flavor, running, expected = limited
    # The emulator allows 40 requests per second; the budget spends 80% of it.
    running.app.realism.configure({"latency": 0.02, "jitter": 0.005, "limit": 40, "window": 1})
    run, _ = synced(flavor, running.url, rate=40 * 0.8)
    stats = running.app.realism.stats()
    assert run.state == SyncRun.State.SUCCEEDED, run.errors
    assert stats["rate_limited"] == 0, stats  # a 429 here is one the bucket should have prevented
    assert stats["max_per_second"] <= 40
    assert stats["max_in_flight"] > 1  # pages really were read concurrently
    assert expected["memberships"] == len(DATASET.memberships)
    assert_mirrored(expected)


def test_a_429_storm_pauses_everyone_and_loses_no_page(limited) -> None:
    flavor, running, expected = limited
    # The budget believes in 200/s; the emulator allows 15 per second and answers 429.
    running.app.realism.configure({"limit": 15, "window": 1})
    run, adapter = synced(flavor, running.url, rate=200)
    assert run.state == SyncRun.State.SUCCEEDED, run.errors
    assert running.app.realism.stats()["rate_limited"] > 0
    assert adapter.http.budget.pauses > 0
    assert_mirrored(expected)


def test_stytch_reads_members_once_for_users_and_memberships(stytch_emulator) -> None:
    stytch_emulator.app.reset(DATASET)
    stytch_emulator.app.realism.reset()
    adapter = stytch(stytch_emulator.url, None)
    try:
        users = adapter.list_users()
        memberships = adapter.list_memberships()  # asked for before the users are read
        user_ids = [user.id for user in users]
        membership_ids = [membership.id for membership in memberships]
        answered_together = stytch_emulator.app.realism.stats()["answered"]
        stytch_emulator.app.realism.reset_stats()
        alone = [membership.id for membership in adapter.list_memberships()]
        answered_alone = stytch_emulator.app.realism.stats()["answered"]
    finally:
        adapter.close()
        stytch_emulator.app.reset()
    assert sorted(user_ids) == sorted(membership_ids) == sorted(alone)
    assert len(membership_ids) == len(DATASET.memberships)
    # One read of the members (and the organizations before them) served both lists.
    assert answered_together == answered_alone


def test_a_spool_keeps_order_and_only_its_depth_in_memory() -> None:
    from providers.spool import Spool

    spool = Spool(depth=2)
    for n in range(5):
        spool.put([n])
    assert spool.spilled == 3  # beyond the first two, batches wait in the file
    assert [spool.get() for _ in range(3)] == [[0], [1], [2]]
    spool.put([5])  # older batches still wait in the file, so this one goes after them
    assert [spool.get() for _ in range(3)] == [[3], [4], [5]]
    spool.close()
    spool.put([6])
    assert spool.closed
    assert spool.spilled == 4

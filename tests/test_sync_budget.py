"""Concurrent sync within the provider's request budget, over loopback to a limited emulator."""

from __future__ import annotations

import threading
import time
from contextlib import nullcontext

import pytest

from accounts.models import Organization, OrganizationMembership, OrganizationRole, SyncRun
from accounts.sync import run_sync
from providers.budget import Budget, background, published_rate
from providers.emulators.seed import generated_dataset
from providers.emulators.server import RunningEmulator
from providers.emulators.workos import EMULATOR_API_KEY
from providers.errors import ProviderUnavailable
from providers.fanout import fan_out
from providers.http import RetryPolicy
from providers.spool import Tee
from providers.workos import WorkOSProvider
from tests.fixtures.flavors import TEST_TIMEOUT

pytestmark = pytest.mark.django_db


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_budget_spends_its_burst_then_one_token_per_interval() -> None:
    clock = FakeClock()
    budget = Budget(10, burst=2, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        budget.acquire()
    assert clock.slept == pytest.approx([0.1, 0.1, 0.1])
    assert budget.taken == 5


def test_a_pause_holds_every_caller_and_restarts_empty() -> None:
    clock = FakeClock()
    budget = Budget(10, burst=5, clock=clock, sleep=clock.sleep)
    budget.pause(2.0)
    budget.acquire()
    assert clock.now == pytest.approx(2.1)
    assert budget.pauses == 1
    assert published_rate("workos") == 100
    with pytest.raises(ValueError, match="positive"):
        Budget(0)


def test_fan_out_reads_chains_concurrently_and_raises_the_first_error() -> None:
    started = threading.Barrier(3, timeout=5)

    def chain(n: int):
        def pages():
            started.wait()  # all three chains run at once, or this times out
            yield [n, n]
            yield [n]

        return pages

    assert sorted(fan_out((chain(n) for n in range(3)), workers=3)) == [0, 0, 0, 1, 1, 1, 2, 2, 2]

    def broken():
        yield [1]
        raise RuntimeError("page 2 failed")

    with pytest.raises(RuntimeError, match="page 2"):
        list(fan_out([broken, broken], workers=2))


@pytest.mark.parametrize("fails", ["on the first page", "before its first page"])
def test_a_tee_hands_its_read_failure_to_every_consumer(fails: str) -> None:
    def read():
        if fails == "before its first page":  # Stytch lists organizations before members
            raise ProviderUnavailable("organizations unavailable")

        def pages():
            raise ProviderUnavailable("members unavailable")
            yield

        return pages()

    tee = Tee(read)
    consumers = [tee.attach(), tee.attach()]
    errors: list[BaseException] = []

    def consume(pages) -> None:
        try:
            list(pages)
        except ProviderUnavailable as exc:
            errors.append(exc)

    threads = [threading.Thread(target=consume, args=(pages,), daemon=True) for pages in consumers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)

    assert not any(thread.is_alive() for thread in threads), "a consumer waits forever"
    assert len(errors) == 2


def test_a_slow_consumer_holds_no_more_pages_than_readers_in_memory() -> None:
    lock = threading.Lock()
    held = most = 0

    def chain():
        nonlocal held, most
        for _ in range(3):
            with lock:
                held += 1
                most = max(most, held)
            yield [object()]

    for _ in fan_out([chain] * 8, workers=4):
        time.sleep(0.01)  # the writer is the slower side: readers must wait, not read ahead
        with lock:
            held -= 1
    assert held == 0
    assert most <= 4 + 1  # four read or waiting, and the one being taken


DATASET = generated_dataset(24, 300, 900, seed=3)


@pytest.fixture
def loaded(workos_emulator: RunningEmulator):
    app = workos_emulator.app
    app.reset(DATASET)
    app.realism.reset()
    yield app
    app.realism.reset()
    app.reset()


def provider(url: str, rate: float, concurrency: int = 8) -> WorkOSProvider:
    retry = RetryPolicy(max_retries=2, wait_initial=0.01, wait_max=0.05, retry_after_cap=2)
    return WorkOSProvider(
        api_key=EMULATOR_API_KEY,
        base_url=url,
        timeout=TEST_TIMEOUT * 5,
        retry=retry,
        budget=Budget(rate),
        concurrency=concurrency,
    )


def assert_mirrored() -> None:
    assert Organization.objects.count() == len(DATASET.organizations)
    assert OrganizationMembership.objects.count() == len(DATASET.memberships)
    assert OrganizationRole.objects.count() == len(DATASET.roles)


def test_concurrent_sync_never_goes_over_the_limit(workos_emulator, loaded) -> None:
    # The emulator allows 60 requests per second; the budget spends 80% of it.
    loaded.realism.configure({"latency": 0.02, "jitter": 0.005, "limit": 60, "window": 1})
    adapter = provider(workos_emulator.url, rate=60 * 0.8)
    try:
        run = run_sync(provider=adapter)
    finally:
        adapter.close()
    stats = loaded.realism.stats()
    assert run.state == SyncRun.State.SUCCEEDED, run.errors
    assert stats["rate_limited"] == 0, stats  # a 429 here is one the bucket should have prevented
    assert stats["max_per_second"] <= 60
    assert stats["max_in_flight"] > 1  # pages really were read concurrently
    assert_mirrored()


def test_a_429_storm_pauses_everyone_and_loses_no_page(workos_emulator, loaded) -> None:
    # The budget believes in 200/s; the emulator allows 25 per second and answers 429.
    loaded.realism.configure({"limit": 25, "window": 1})
    adapter = provider(workos_emulator.url, rate=200)
    try:
        run = run_sync(provider=adapter)
    finally:
        adapter.close()
    assert run.state == SyncRun.State.SUCCEEDED, run.errors
    assert loaded.realism.stats()["rate_limited"] > 0
    assert adapter.http.budget.pauses > 0
    assert_mirrored()


def test_background_threads_give_way_to_a_chain() -> None:
    budget = Budget(100, burst=1)
    order: list[str] = []
    start = threading.Barrier(5)

    def take(name: str, in_background: bool) -> None:
        start.wait()
        with background() if in_background else nullcontext():
            for _ in range(10):
                budget.acquire()
                order.append(name)

    workers = [threading.Thread(target=take, args=(f"b{n}", True)) for n in range(4)]
    workers.append(threading.Thread(target=take, args=("chain", False)))
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=10)
    # Sharing fairly, four background tokens would go between each two of the chain's (~36);
    # giving way, only one that slips in while the chain's thread is between two requests.
    chain = [at for at, name in enumerate(order) if name == "chain"]
    assert len(order) == 50
    assert chain[-1] - chain[0] + 1 - len(chain) < 9, order


def test_users_are_read_from_both_ends_once_each(workos_emulator, loaded) -> None:
    adapter = provider(workos_emulator.url, rate=1000, concurrency=2)
    loaded.realism.reset_stats()
    try:
        users = [user.id for user in adapter.list_users()]
    finally:
        adapter.close()
    assert len(users) == len(set(users)) == len(DATASET.people)
    pages = -(-len(DATASET.people) // 100)
    assert pages <= loaded.realism.stats()["answered"] <= pages + 2

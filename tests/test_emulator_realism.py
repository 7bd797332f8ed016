"""Emulators under load behave like the providers: latency, a per-credential limit, counts."""

from __future__ import annotations

import time

import httpx
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from providers.emulators.realism import PUBLISHED_LIMITS, parse_latency, parse_rate_limit
from providers.emulators.server import RunningEmulator
from providers.emulators.workos import EMULATOR_API_KEY
from providers.workos import WorkOSProvider

KEY = {"Authorization": f"Bearer {EMULATOR_API_KEY}"}


def test_latency_and_rate_limit_parse() -> None:
    assert parse_latency("50ms") == (0.05, 0.01)
    assert parse_latency("50ms+5ms") == (0.05, 0.005)
    assert parse_latency("0.2") == (0.2, pytest.approx(0.04))
    assert parse_rate_limit("published", "workos") == PUBLISHED_LIMITS["workos"] == (6000, 60.0)
    assert parse_rate_limit("100/s", "workos") == (100, 1.0)
    assert parse_rate_limit("6000/60s", "stytch") == (6000, 60.0)
    assert parse_rate_limit("50/m", "zitadel") == (50, 60.0)
    assert parse_rate_limit("off", "workos") is None
    for bad in ("fast", "0/s", "10 per s"):
        with pytest.raises(ValueError, match="rate limit"):
            parse_rate_limit(bad, "workos")
    with pytest.raises(ValueError, match="duration"):
        parse_latency("soon")


def test_run_emulator_refuses_a_bad_latency() -> None:
    with pytest.raises(CommandError, match="duration"):
        call_command("run_emulator", "workos", "--port", "0", "--latency", "soon")


def test_latency_is_added_to_every_answer(
    workos_emulator: RunningEmulator, workos_provider: WorkOSProvider
) -> None:
    workos_emulator.app.realism.configure({"latency": 0.08, "jitter": 0.0})
    with httpx.Client(base_url=workos_emulator.url, headers=KEY) as client:
        started = time.perf_counter()
        assert client.get("/organizations").status_code == 200
        assert time.perf_counter() - started >= 0.08


def test_limit_per_credential_answers_the_providers_429(
    workos_emulator: RunningEmulator, workos_provider: WorkOSProvider
) -> None:
    workos_emulator.app.realism.configure({"limit": 3, "window": 10})
    with httpx.Client(base_url=workos_emulator.url, headers=KEY) as client:
        first_second = int(time.monotonic())  # the emulator counts by the same clock's seconds
        statuses = [client.get("/organizations").status_code for _ in range(4)]
        refused = client.get("/organizations")
        other = client.get("/organizations", headers={"Authorization": "Bearer sk_other"})
        seconds = int(time.monotonic()) - first_second + 1
        stats = client.get("/__emulator__/stats").json()
    assert statuses == [200, 200, 200, 429]
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 10
    assert refused.json() == {
        "message": "Too many requests.",
        "code": "rate_limit_exceeded",
        "retry_after": float(refused.headers["Retry-After"]),
    }
    assert other.status_code == 401  # its own budget: refused for the key, not the limit
    assert stats["answered"] == 4
    assert stats["rate_limited"] == 2
    # Six requests counted over `seconds` whole seconds: the busiest holds at least its share.
    assert -(-6 // seconds) <= stats["max_per_second"] <= 6
    assert stats["limit"] == {"requests": 3, "window": 10.0}


def test_stats_count_concurrency_and_reset(
    workos_emulator: RunningEmulator, workos_provider: WorkOSProvider
) -> None:
    list(workos_provider.list_organizations())
    with httpx.Client(base_url=workos_emulator.url) as client:
        assert client.get("/__emulator__/stats").json()["max_in_flight"] == 1
        assert client.delete("/__emulator__/stats").json()["answered"] == 0
        client.post("/__emulator__/realism", json={"latency": 0.01})
    assert workos_emulator.app.realism.latency == 0.01

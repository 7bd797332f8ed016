"""The shared HTTP layer: Retry-After parsing and honouring, and when calls are retried."""

from __future__ import annotations

import email.utils
import gc
import socket
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from providers.emulators.workos import EMULATOR_API_KEY
from providers.errors import ProviderUnavailable
from providers.http import ProviderHTTP, RetryPolicy, parse_retry_after

pytestmark = pytest.mark.django_db


def http_date(offset: timedelta) -> str:
    return email.utils.format_datetime(datetime.now(UTC) + offset, usegmt=True)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("5", 5.0),
        ("0.5", 0.5),
        ("120", 30.0),
        ("-3", 0.0),
        ("", None),
        (None, None),
        ("soon", None),
    ],
)
def test_parse_retry_after_reads_seconds_and_caps_them(header, expected):
    assert parse_retry_after(header, cap=30.0) == expected


def test_parse_retry_after_reads_an_http_date():
    assert 8.0 <= parse_retry_after(http_date(timedelta(seconds=10)), cap=30.0) <= 10.0
    assert parse_retry_after(http_date(timedelta(hours=1)), cap=30.0) == 30.0
    assert parse_retry_after(http_date(timedelta(seconds=-60)), cap=30.0) == 0.0


@pytest.fixture
def make_http(workos_provider, workos_emulator):
    clients: list[ProviderHTTP] = []

    def make(policy: RetryPolicy, base_url: str = workos_emulator.url) -> ProviderHTTP:
        http = ProviderHTTP(
            base_url=base_url,
            provider="workos",
            headers={"Authorization": f"Bearer {EMULATOR_API_KEY}"},
            timeout=1.0,
            retry=policy,
        )
        clients.append(http)
        return http

    yield make
    for http in clients:
        http.close()


@pytest.mark.parametrize(("header", "cap", "expected"), [("0.4", 5.0, 0.4), ("30", 0.3, 0.3)])
def test_backoff_waits_as_long_as_retry_after_says_up_to_the_cap(
    make_http, workos_emulator, header, cap, expected
):
    http = make_http(
        RetryPolicy(
            max_retries=1, wait_initial=0.01, wait_max=0.01, wait_jitter=0.0, retry_after_cap=cap
        )
    )
    workos_emulator.app.faults.configure(
        {"rate_limit": {"limit": 1, "window": 0.2, "retry_after": header}}
    )
    http.request("GET", "/organizations")

    started = time.monotonic()
    answer = http.request("GET", "/organizations")
    waited = time.monotonic() - started

    assert answer.status_code == 200
    assert expected <= waited < expected + 0.5


def test_post_is_retried_when_the_connection_was_never_made(make_http, caplog):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    http = make_http(
        RetryPolicy(max_retries=2, wait_initial=0.01, wait_max=0.01, wait_jitter=0.0),
        f"http://127.0.0.1:{port}",
    )

    with pytest.raises(ProviderUnavailable, match="cannot connect"):
        http.request("POST", "/user_management/users", json={"email": "a@b.example"})

    assert [r.getMessage() for r in caplog.records].count("stamina.retry_scheduled") == 2


def test_post_the_provider_makes_idempotent_is_retried_after_a_server_error(
    make_http, workos_emulator
):
    http = make_http(RetryPolicy(max_retries=2, wait_initial=0.01, wait_max=0.01, wait_jitter=0.0))
    workos_emulator.app.faults.configure({"fail": [503]})
    before = workos_emulator.app.request_count

    answer = http.request(
        "POST", "/user_management/users", json={"email": "safe@http.example"}, idempotent=True
    )

    assert answer.status_code == 201
    assert workos_emulator.app.request_count - before == 2


def test_a_read_response_is_freed_without_the_cyclic_collector(make_http):
    http = make_http(RetryPolicy(max_retries=0))
    responses: list[weakref.ref] = []
    http.client.event_hooks["response"].append(
        lambda response: responses.append(weakref.ref(response))
    )
    gc.disable()
    try:
        answer = http.request("GET", "/organizations")
        assert answer.data["data"]
        assert len(responses) == 1
        assert responses[0]() is None  # its body went with it, a page at a time
    finally:
        gc.enable()


def test_answers_are_digested_one_at_a_time_across_threads(make_http):
    http = make_http(RetryPolicy(max_retries=0))
    lock = threading.Lock()
    digesting = most = 0

    def digest(data: dict) -> int:
        nonlocal digesting, most
        with lock:
            digesting += 1
            most = max(most, digesting)
        time.sleep(0.05)  # long enough for the other readers' answers to arrive meanwhile
        with lock:
            digesting -= 1
        return len(data["data"])

    with ThreadPoolExecutor(4) as readers:
        answers = list(
            readers.map(lambda _: http.request("GET", "/organizations", digest=digest), range(4))
        )

    assert {answer.data for answer in answers} == {
        len(http.request("GET", "/organizations").data["data"])
    }
    assert most == 1

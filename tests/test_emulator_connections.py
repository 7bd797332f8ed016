"""The emulators' HTTP server keeps connections open (HTTP/1.1), as the real providers do."""

from __future__ import annotations

import http.client

import httpx
import pytest

from providers.emulators.workos import EMULATOR_API_KEY

AUTH = {"Authorization": f"Bearer {EMULATOR_API_KEY}"}


@pytest.fixture
def connection(workos_emulator):
    host, port = workos_emulator.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    yield conn
    conn.close()


def ask(conn, path="/organizations?limit=1", headers=AUTH, body=None, method="GET"):
    conn.request(method, path, body=body, headers=headers)
    answer = conn.getresponse()
    answer.read()
    return answer


def test_one_connection_carries_many_requests(connection):
    first = ask(connection)
    socket = connection.sock
    answers = [first] + [ask(connection) for _ in range(4)]
    assert [a.status for a in answers] == [200] * 5
    assert {a.version for a in answers} == {11}
    assert socket is not None
    assert connection.sock is socket


def test_errors_and_bodies_keep_the_connection_usable(connection):
    socket = (ask(connection), connection.sock)[1]
    assert ask(connection, "/nowhere").status == 404
    assert ask(connection, headers={}).status == 401
    created = ask(
        connection,
        "/user_management/users",
        {**AUTH, "Content-Type": "application/json"},
        body=b'{"email": "kept.alive@example.com"}',
        method="POST",
    )
    assert created.status == 201
    assert ask(connection).status == 200
    assert connection.sock is socket


def test_a_client_asking_to_close_gets_the_connection_closed(connection):
    ask(connection)
    closing = ask(connection, headers={**AUTH, "Connection": "close"})
    assert closing.status == 200
    assert closing.will_close


def test_httpx_reuses_one_connection_for_a_run_of_calls(workos_emulator):
    peers = set()
    with httpx.Client(base_url=workos_emulator.url, headers=AUTH) as client:
        for _ in range(5):
            answer = client.get("/organizations", params={"limit": 1})
            peers.add(answer.extensions["network_stream"].get_extra_info("client_addr"))
    assert len(peers) == 1

"""run_emulator serves each flavour in a child process; generated datasets are sized and stable."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.management.commands.run_emulator import dataset_sizes
from providers.base import Status
from providers.emulators.seed import demo_dataset, generated_dataset
from providers.registry import get_provider

pytestmark = pytest.mark.django_db

START_TIMEOUT = 120.0  # an upper bound for a hung start, generous for a busy machine
STOP_TIMEOUT = 5.0


@dataclass
class Served:
    """A running `run_emulator` child and what it printed."""

    process: subprocess.Popen[str]
    stderr: IO[str]
    lines: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    output: queue.Queue[str | None] = field(default_factory=queue.Queue)

    def errors(self) -> str:
        """What the child wrote to stderr so far."""
        self.stderr.seek(0)
        return self.stderr.read()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _read_until_ready(served: Served) -> None:
    """Collect printed lines up to the ready line; fail if the child dies or takes too long."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            line = served.output.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            break
        if line is None:
            served.process.wait(timeout=STOP_TIMEOUT)
            pytest.fail(f"run_emulator exited early: {served.lines} {served.errors()}")
        served.lines.append(line)
        if line.startswith("Press Ctrl-C"):
            return
    served.process.kill()
    pytest.fail(f"run_emulator was not ready within {START_TIMEOUT} s: {served.lines}")


def _pump(stream: IO[str], output: queue.Queue[str | None]) -> None:
    for line in stream:
        output.put(line.rstrip("\n"))
    output.put(None)


def _rest(served: Served) -> list[str]:
    lines = []
    while (line := served.output.get(timeout=STOP_TIMEOUT)) is not None:
        lines.append(line)
    return lines


@contextmanager
def serve(*args: str, stop: signal.Signals = signal.SIGTERM) -> Iterator[Served]:
    """Start `manage.py run_emulator ARGS`, yield once it serves, then stop it with `stop`."""
    with tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen(  # noqa: S603 - our own manage.py with fixed arguments
            [sys.executable, "manage.py", "run_emulator", *args],
            cwd=django_settings.BASE_DIR,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        served = Served(process, stderr)
        threading.Thread(target=_pump, args=(process.stdout, served.output), daemon=True).start()
        try:
            _read_until_ready(served)
            served.env = dict(
                line.strip().split("=", 1)
                for line in served.lines
                if line.startswith("  ") and "=" in line
            )
            yield served
            process.send_signal(stop)
            assert process.wait(timeout=STOP_TIMEOUT) == 0, served.errors()
            assert _rest(served) == ["stopped"]
            assert "Traceback" not in served.errors()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def provider_from(served: Served, settings: pytest.FixtureRequest) -> object:
    """The real adapter built from settings, set exactly as the command said."""
    for name, value in served.env.items():
        setattr(settings, name, value)
    settings.KARMO_PROVIDER_MAX_RETRIES = 0
    return get_provider()


@pytest.mark.parametrize(
    ("flavor", "stop"),
    [("workos", signal.SIGTERM), ("stytch", signal.SIGTERM), ("zitadel", signal.SIGINT)],
)
def test_serves_a_generated_dataset_until_stopped(flavor, stop, settings):
    port = free_port()
    sizes = ["--orgs", "30", "--users", "200", "--memberships", "500"]
    with serve(flavor, "--port", str(port), *sizes, stop=stop) as served:
        url = f"http://127.0.0.1:{port}"
        assert f"Serving the {flavor} emulator at {url}" in served.lines
        assert served.env["KARMO_PROVIDER"] == flavor
        assert served.env[f"{flavor.upper()}_BASE_URL"] == url
        provider = provider_from(served, settings)
        try:
            assert provider.name == flavor
            assert len(list(provider.list_organizations())) == 30
            assert len(list(provider.list_memberships())) == 500
        finally:
            provider.close()


def test_state_file_survives_a_restart_and_reload_restores_it(tmp_path, settings):
    state = str(tmp_path / "workos.sqlite3")
    with serve("workos", "--port", "0", "--state", state) as served:
        provider = provider_from(served, settings)
        target = next(m for m in provider.list_memberships() if m.status is Status.ACTIVE)
        assert provider.deactivate_membership(target).value.status is Status.INACTIVE
        provider.close()
    with serve("workos", "--port", "0", "--state", state) as served:
        assert any(line.startswith("kept the state in") for line in served.lines)
        provider = provider_from(served, settings)
        assert provider.get_membership(target.id).status is Status.INACTIVE
        provider.close()
    with serve("workos", "--port", "0", "--state", state, "--reload") as served:
        provider = provider_from(served, settings)
        assert provider.get_membership(target.id).status is Status.ACTIVE
        provider.close()
    with pytest.raises(CommandError, match="holds the workos emulator's state"):
        call_command("run_emulator", "zitadel", "--port", "0", "--state", state)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "0.0.0.0"], "loopback"),  # noqa: S104 - the address being refused
        (["--host", "::1"], "IPv4 loopback"),
        (["--host", "example.com"], "loopback"),
        (["--orgs", "2", "--users", "3", "--memberships", "7"], "do not fit"),
        (["--port", "70000"], "between 0 and 65535"),
        (["--orgs", "0"], "invalid positive value"),
        (["--state", "/dev/null/state.sqlite3"], "cannot open the state file"),
    ],
)
def test_refuses_bad_options(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("run_emulator", "workos", "--port", "0", *args)


def test_missing_sizes_follow_the_benchmark_proportions():
    assert dataset_sizes(2000, None, None) == (2000, 100_000, 250_000)
    assert dataset_sizes(None, 200, None) == (4, 200, 500)
    assert dataset_sizes(None, None, 10) == (3, 4, 10)
    assert dataset_sizes(1, 5, None) == (1, 5, 5)


def test_generated_dataset_has_the_requested_sizes_and_shape():
    data = generated_dataset(40, 300, 750)
    assert (len(data.organizations), len(data.people), len(data.memberships)) == (40, 300, 750)
    pairs = [(m.organization, m.person) for m in data.memberships]
    assert len(set(pairs)) == len(pairs)
    per_user = Counter(m.person for m in data.memberships)
    assert set(per_user) == {p.key for p in data.people}
    assert min(per_user.values()) >= 1
    assert max(per_user.values()) > 2
    statuses = Counter(m.status for m in data.memberships)
    assert statuses["active"] > statuses["inactive"] > 0
    assert statuses["pending"] > 0
    assert len({p.email for p in data.people}) == 300
    assert len({o.domain for o in data.organizations}) == 40
    org_roles = Counter(r.organization for r in data.roles)
    assert org_roles[None] == 2
    assert all(org_roles[o.key] == 3 for o in data.organizations)
    assert any(not o.active for o in data.organizations)


def test_generated_dataset_is_deterministic_and_seeded():
    assert generated_dataset(10, 50, 120) == generated_dataset(10, 50, 120)
    assert generated_dataset(10, 50, 120, seed=8) != generated_dataset(10, 50, 120)


def test_generated_dataset_edges():
    few = generated_dataset(3, 10, 4)
    assert sorted(m.person for m in few.memberships) == [0, 1, 2, 3]
    full = generated_dataset(3, 10, 30)
    assert Counter(m.person for m in full.memberships) == dict.fromkeys(range(10), 3)
    with pytest.raises(ValueError, match="do not fit"):
        generated_dataset(3, 10, 31)


def test_demo_dataset_is_unchanged():
    data = demo_dataset()
    assert (len(data.organizations), len(data.people), len(data.memberships)) == (6, 72, 94)


def test_benchmark_shaped_dataset_has_distinct_pairs():
    # The benchmark's shape at a tenth of its size; its speed is the benchmark's business.
    data = generated_dataset(200, 10_000, 25_000)
    assert len(data.memberships) == 25_000
    assert len({(m.organization, m.person) for m in data.memberships}) == 25_000

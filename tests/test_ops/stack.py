"""A throw-away PostgreSQL database and the production processes serving it, for tests.

Everything listens on 127.0.0.1 only; every process started here is stopped by its context.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
PORTS = range(21400, 21500)
METRICS_TOKEN = "stack-metrics-token-0123456789abcdef0123456789"

STAFF_PASSWORD = "stack-Pass-9431!"
# Migrate, sync and make staff in one process: each manage.py start costs seconds on 2 cores.
SET_UP = (
    f"STAFF_PASSWORD = {STAFF_PASSWORD!r}\n"
    + """
import json
from django.contrib.auth.models import Group, User
from django.core.management import call_command
call_command("migrate", verbosity=0)
call_command("sync_provider", verbosity=0)
from accounts.tokens import issue_token
tokens = {}
staff = [("desk", "Help desk"), ("boss.a", "Manager"), ("boss.b", "Manager"), ("eye", "Auditor")]
for name, group in staff:
    user = User.objects.create_user(name, password=STAFF_PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    tokens[name] = issue_token(user, "stack")[1]
print(json.dumps(tokens))
"""
)


def free_port() -> int:
    """A free loopback port in this project's test range."""
    for port in PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 21400-21499")


def server_url(name: str) -> str:
    """A postgres:// URL for database `name` on the test run's server."""
    db = settings.DATABASES["default"]
    user, host, port = db["USER"] or "postgres", db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{host}:{port}/{name}"


@contextlib.contextmanager
def scratch_database(prefix: str = "karmo_stack") -> Iterator[str]:
    """A new empty database's URL; dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = server_url("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server_url(name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Stack:
    """Environment for the processes, and the staff tokens made in its database."""

    env: dict[str, str]
    tokens: dict[str, str] = field(default_factory=dict)

    def manage(self, *args: str, timeout: float = 120) -> str:
        done = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, f"manage.py {args[0]}: {done.stdout}\n{done.stderr}"
        return done.stdout

    def start(self, *args: str, log: Path) -> subprocess.Popen:
        """A long-running manage.py command in its own process group."""
        return subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), *args],
            env=self.env,
            cwd=ROOT,
            stdout=log.open("a"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def query(self, sql: str, *params: object) -> list[tuple]:
        with psycopg.connect(self.env["DATABASE_URL"]) as conn:
            return conn.execute(sql, params).fetchall()


def make_stack(database_url: str, tmp: Path, emulator_url: str, api_key: str) -> Stack:
    """Migrate, sync from the WorkOS emulator and create staff with API tokens."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_CONN_MAX_AGE": "60",
        "KARMO_DATA_DIR": str(tmp),
        "KARMO_PROVIDER": "workos",
        "WORKOS_API_KEY": api_key,
        "WORKOS_BASE_URL": emulator_url,
        "KARMO_API_RATE_LIMIT": "0",
        # These staff sign in with a password alone; second factors are tested elsewhere.
        "KARMO_MFA_REQUIRED_FOR": "",
        "KARMO_EXPIRY_SWEEP_MINUTES": "0",
        "KARMO_LOG_LEVEL": "WARNING",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp / "metrics"),
        "KARMO_METRICS_TOKEN": METRICS_TOKEN,  # /readyz details (worker count) need it
    }
    env.pop("DATABASE_REPLICA_URL", None)
    stack = Stack(env)
    stack.tokens = json.loads(stack.manage("shell", "-c", SET_UP).strip().splitlines()[-1])
    return stack


def stop(process: subprocess.Popen, timeout: float = 40) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def wait_ready(base: str, process: subprocess.Popen, workers: int, seconds: float = 120) -> None:
    """Until /readyz answers 200 and counts `workers` live task workers."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited while starting"
        with contextlib.suppress(httpx.TransportError):
            answer = httpx.get(
                f"{base}/readyz", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=5
            )
            if answer.status_code == 200 and answer.json()["checks"]["tasks"]["detail"].startswith(
                f"{workers} worker"
            ):
                return
        time.sleep(0.3)
    raise AssertionError("the production server did not become ready in time")

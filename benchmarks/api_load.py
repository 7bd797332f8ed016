"""Load the JSON API with reactivations and role upserts against the sandbox, from a second process.

Usage: .venv/bin/python benchmarks/api_load.py [--requests N] [--concurrency C] [--flavor F]

The app is served by `manage.py runserver --noreload` on a loopback port, on a fresh SQLite file
and sandbox directory (migrated, synced from the sandbox, a manager with an API token). This
process then sends the requests over HTTP, prints requests/s and p50/p95/p99 latency, and writes
benchmarks/results/api.json and the API section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from common import machine, write_section

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "api.json"
REPORT = ROOT / "BENCHMARKS.md"
START, END = "<!-- api-load:start -->", "<!-- api-load:end -->"
MAKE_MANAGER = (
    "from django.contrib.auth.models import Group, User; "
    "u = User.objects.create_user('bench.manager', is_staff=True); "
    "u.groups.add(Group.objects.get(name='Manager'))"
)


@dataclass(frozen=True, slots=True)
class Sample:
    """One request's outcome."""

    operation: str
    status: int
    seconds: float


def manage(env: dict[str, str], *args: str) -> str:
    """Run a management command in the bench environment; its standard output."""
    done = subprocess.run(  # noqa: S603 - this repository's manage.py, fixed arguments
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_serving(base: str, server: subprocess.Popen, seconds: float = 60) -> None:
    """Poll the OpenAPI document until the server answers."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("the server exited while starting")
        try:
            if httpx.get(f"{base}/api/v1/openapi.json", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit("the server did not start in time")


def plan(client: httpx.Client, count: int) -> list[tuple[str, str, str, dict | None]]:
    """Half reactivations of inactive memberships (cycling), half role upserts with new names."""
    orgs = client.get("/api/v1/orgs", params={"limit": 200}).json()["data"]
    inactive = []
    for org in orgs:
        page = client.get(
            f"/api/v1/orgs/{org['id']}/memberships", params={"status": "inactive", "limit": 200}
        ).json()
        inactive += [(m["orgId"], m["userId"]) for m in page["data"]]
    if not inactive:
        raise SystemExit("the sandbox has no inactive memberships to reactivate")
    requests = []
    for i in range(count):
        if i % 2 == 0:
            org_id, user_id = inactive[(i // 2) % len(inactive)]
            requests.append(
                ("reactivate", "POST", f"/api/v1/orgs/{org_id}/users/{user_id}/reactivate", None)
            )
        else:
            org_id = orgs[(i // 2) % len(orgs)]["id"]
            slug = f"org-bench-{(i // 2) % 10}"
            body = {"name": f"Bench role {i}"}
            requests.append(("upsert_role", "PUT", f"/api/v1/orgs/{org_id}/roles/{slug}", body))
    return requests


def fire(base: str, token: str, requests: list, concurrency: int) -> tuple[list[Sample], float]:
    """Send every request with `concurrency` workers; the samples and the wall time."""
    local = threading.local()

    def client() -> httpx.Client:
        if not hasattr(local, "client"):
            local.client = httpx.Client(
                base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60
            )
        return local.client

    def send(item: tuple[str, str, str, dict | None]) -> Sample:
        operation, method, path, body = item
        started = time.perf_counter()
        response = client().request(method, path, json=body)
        return Sample(operation, response.status_code, time.perf_counter() - started)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        samples = list(pool.map(send, requests))
    return samples, time.perf_counter() - started


def summarise(samples: list[Sample], seconds: float) -> dict:
    """Counts, statuses, throughput and latency percentiles (ms), per operation and overall."""

    def figures(group: list[Sample], wall: float) -> dict:
        latencies = sorted(s.seconds * 1000 for s in group)
        cuts = statistics.quantiles(latencies, n=100, method="inclusive")
        statuses: dict[str, int] = {}
        for s in group:
            statuses[str(s.status)] = statuses.get(str(s.status), 0) + 1
        return {
            "requests": len(group),
            "statuses": dict(sorted(statuses.items())),
            "requests_per_second": round(len(group) / wall, 1),
            "p50_ms": round(cuts[49], 1),
            "p95_ms": round(cuts[94], 1),
            "p99_ms": round(cuts[98], 1),
            "max_ms": round(latencies[-1], 1),
        }

    result = {"all": figures(samples, seconds)}
    for operation in sorted({s.operation for s in samples}):
        result[operation] = figures([s for s in samples if s.operation == operation], seconds)
    return result


def write_report(run: dict) -> None:
    """benchmarks/results/api.json and the API section of BENCHMARKS.md."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(run, indent=2) + "\n")
    rows = "\n".join(
        f"| {name} | {f['requests']} | {', '.join(f'{k}×{v}' for k, v in f['statuses'].items())} "
        f"| {f['requests_per_second']} | {f['p50_ms']} | {f['p95_ms']} | {f['p99_ms']} |"
        for name, f in run["results"].items()
    )
    section = f"""{START}
## JSON API under load

`benchmarks/api_load.py` ({run["measured_at"]}): {run["requests"]} requests from
{run["concurrency"]} concurrent clients in a second process, against `manage.py runserver
--noreload` (Django's threaded development server) on 127.0.0.1 with SQLite and the sandbox
provider ({run["flavor"]} flavour, emulator in process). Half are
`POST /orgs/{{orgId}}/users/{{userId}}/reactivate` cycling over the {run["inactive_memberships"]}
inactive memberships (the first visit changes the provider, later ones are audited no-ops),
half `PUT /orgs/{{orgId}}/roles/{{roleSlug}}` with a new name each time (always a provider write).
Every request is authenticated (rate limit off), audited and, for writes that
change something, written through to the provider. Machine: {run["machine"]}.

| operation | requests | statuses | requests/s | p50 ms | p95 ms | p99 ms |
|---|---|---|---|---|---|---|
{rows}

Wall time {run["seconds"]} s. Re-run with `.venv/bin/python benchmarks/api_load.py`.
{END}"""
    write_section(REPORT, START, END, section)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--flavor", default="workos", choices=["workos", "stytch", "zitadel"])
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="karmo-api-load-"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "karmo_admin.settings",
        "DATABASE_URL": f"sqlite:///{scratch / 'bench.sqlite3'}",
        "KARMO_PROVIDER": "sandbox",
        "KARMO_SANDBOX_FLAVOR": args.flavor,
        "KARMO_SANDBOX_DIR": str(scratch / "sandbox"),
        "KARMO_SANDBOX_URL": "",
        "KARMO_API_RATE_LIMIT": "0",
        "DJANGO_DEBUG": "false",
        "KARMO_LOG_LEVEL": "WARNING",
    }
    manage(env, "migrate", "--verbosity", "0")
    manage(env, "sync_provider")
    manage(env, "shell", "-c", MAKE_MANAGER)
    token = manage(env, "create_api_token", "--user", "bench.manager").strip().splitlines()[-1]

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = (scratch / "server.log").open("w")
    server = subprocess.Popen(  # noqa: S603 - this repository's manage.py, fixed arguments
        [sys.executable, str(ROOT / "manage.py"), "runserver", "--noreload", f"127.0.0.1:{port}"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until_serving(base, server)
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as client:
            requests = plan(client, args.requests)
            inactive = len({r[2] for r in requests if r[0] == "reactivate"})
        samples, seconds = fire(base, token, requests, args.concurrency)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
        shutil.rmtree(scratch, ignore_errors=True)

    run = {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "requests": args.requests,
        "concurrency": args.concurrency,
        "flavor": args.flavor,
        "database": "sqlite",
        "server": "manage.py runserver --noreload",
        "inactive_memberships": inactive,
        "machine": machine(),
        "seconds": round(seconds, 2),
        "results": summarise(samples, seconds),
    }
    for name, figures in run["results"].items():
        print(
            f"{name:12} {figures['requests']:5} req  {figures['requests_per_second']:7} req/s  "
            f"p50 {figures['p50_ms']} ms  p95 {figures['p95_ms']} ms  p99 {figures['p99_ms']} ms  "
            f"statuses {figures['statuses']}"
        )
    write_report(run)
    print(f"wrote {RESULTS.relative_to(ROOT)} and the API section of {REPORT.name}")


if __name__ == "__main__":
    main()

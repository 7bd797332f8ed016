"""Reads through the production server (gunicorn) against today's runserver, on PostgreSQL.

Usage: .venv/bin/python benchmarks/prod_load.py [--memberships N] [--requests N]
       [--concurrency 8 32] [--web 2] [--threads 4] [--postgres-url URL] [--keep DBNAME]

Bulk-loads the console benchmark's dataset (1,000,000 memberships by default) into the
scratch PostgreSQL database `karmo_prod_bench` (dropped at the end), then serves it twice on
127.0.0.1: `manage.py runserver --noreload` as today, and gunicorn with the production config
(`karmo_admin/gunicorn_conf.py`, persistent connections). For each server and concurrency, a
second process sends the same mix of API reads and console pages (half each) from that many
threads and measures requests/s and p50/p95/p99. Writes benchmarks/results/prod-postgres.json
and the "Production server" section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from common import machine, write_section
from console_bench import admin_sql
from console_bench import plan as console_plan
from console_dataset import Dataset, build

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results" / "prod-postgres.json"
REPORT = ROOT / "BENCHMARKS.md"
START, END = "<!-- prod-load:start -->", "<!-- prod-load:end -->"
PORTS = {"runserver": 21480, "gunicorn": 21481}
SCRATCH_DB = "karmo_prod_bench"
P95_TARGET_MS = 100


def api_paths(data: Dataset, count: int) -> list[str]:
    """API reads: org list pages, an org's members, a person, audit event pages."""
    rng = random.Random(5)
    paths = []
    for i in range(count):
        org = f"org_{rng.randrange(2, data.n_orgs + 1):06d}"
        user = f"user_{rng.randrange(1, data.n_users + 1):07d}"
        paths.append(
            [
                "/api/v1/orgs?limit=50",
                f"/api/v1/orgs/{org}/memberships?limit=50",
                f"/api/v1/users/{user}",
                "/api/v1/audit-events?limit=50",
            ][i % 4]
        )
    return paths


def mixed_plan(data: Dataset, count: int) -> list[tuple[str, str]]:
    """(kind, path): API reads and console pages taking turns."""
    pages = console_plan(data, count)
    console = [
        item
        for group in itertools.zip_longest(*[[(k, p) for p in v] for k, v in pages.items()])
        for item in group
        if item is not None
    ]
    api = [("api", p) for p in api_paths(data, count)]
    return [item for pair in zip(api, console, strict=False) for item in pair][:count]


def fire(
    base: str, auth: dict[str, str], work: list[tuple[str, str]], concurrency: int
) -> tuple[list[tuple[str, int, float]], float]:
    """Send every request from `concurrency` threads; (kind, status, seconds) and wall time."""
    local = threading.local()

    def client() -> httpx.Client:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=base, timeout=60, cookies=auth["cookies"])
        return local.client

    def send(item: tuple[str, str]) -> tuple[str, int, float]:
        kind, path = item
        headers = {"Authorization": auth["bearer"]} if kind == "api" else {}
        if kind == "search":
            headers["HX-Request"] = "true"
        started = time.perf_counter()
        status = client().get(path, headers=headers).status_code
        return kind, status, time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        samples = list(pool.map(send, work))
    return samples, time.perf_counter() - started


def figures(samples: list[tuple[str, int, float]], wall: float) -> dict[str, Any]:
    latencies = sorted(s[2] * 1000 for s in samples)
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    statuses: dict[str, int] = {}
    for _, status, _ in samples:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return {
        "requests": len(samples),
        "statuses": statuses,
        "requests_per_second": round(len(samples) / wall, 1),
        "p50_ms": round(cuts[49], 1),
        "p95_ms": round(cuts[94], 1),
        "p99_ms": round(cuts[98], 1),
    }


def serve(name: str, env: dict[str, str], args: argparse.Namespace, log: Path) -> subprocess.Popen:
    port = PORTS[name]
    if name == "runserver":
        command = ["manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
    else:
        command = ["-m", "gunicorn", "-c", "python:karmo_admin.gunicorn_conf", "karmo_admin.wsgi"]
        env = {
            **env,
            "KARMO_BIND": f"127.0.0.1:{port}",
            "WEB_CONCURRENCY": str(args.web),
            "GUNICORN_THREADS": str(args.threads),
            "PROMETHEUS_MULTIPROC_DIR": str(log.parent / "metrics"),
        }
    return subprocess.Popen(  # noqa: S603 - this repository's server, fixed arguments
        [sys.executable, *command],
        env=env,
        cwd=ROOT,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


def wait_serving(base: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("the server exited while starting")
        try:
            if httpx.get(f"{base}/healthz", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.3)
    raise SystemExit("the server did not start in time")


@contextmanager
def scratch_database(server: str, keep: str) -> Iterator[tuple[str, Path]]:
    """The scratch database's URL and a temp dir, both removed afterwards; or the database
    `keep`, left in place so a re-run skips the build."""
    scratch = Path(tempfile.mkdtemp(prefix="karmo-prod-bench-"))
    drop = f"DROP DATABASE IF EXISTS {SCRATCH_DB} WITH (FORCE)"
    if not keep:
        admin_sql(server, drop, f"CREATE DATABASE {SCRATCH_DB}")
    try:
        yield f"{server}/{keep or SCRATCH_DB}", scratch
    finally:
        if "django.db" in sys.modules:
            from django.db import connections

            connections.close_all()
        if not keep:
            admin_sql(server, drop)
        shutil.rmtree(scratch, ignore_errors=True)


def built_already(data: Dataset) -> dict[str, Any] | None:
    """The counts when a kept database already holds this dataset."""
    from django.core.management import call_command
    from django.db.utils import ProgrammingError

    from accounts.models import AuditEvent, OrganizationMembership

    try:
        call_command("migrate", verbosity=0, interactive=False)  # main may have moved on
        memberships = OrganizationMembership.objects.count()
    except ProgrammingError:
        return None
    if memberships != data.n_memberships:
        return None
    counts = {"memberships": memberships, "people": data.n_users}
    counts |= {"organizations": data.n_orgs, "audit_events": AuditEvent.objects.count()}
    return {"counts": counts, "build_seconds": 0.0, "reused": True}


def run(args: argparse.Namespace) -> dict[str, Any]:
    with scratch_database(args.postgres_url.rstrip("/"), args.keep) as (url, scratch):
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "karmo_admin.settings",
            "DJANGO_DEBUG": "false",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "KARMO_PROVIDER": "sandbox",
            "KARMO_SANDBOX_FLAVOR": "workos",
            "KARMO_SANDBOX_DIR": str(scratch / "sandbox"),
            "KARMO_SANDBOX_URL": "",
            "KARMO_API_RATE_LIMIT": "0",
        }
        os.environ.update({k: env[k] for k in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")})
        os.environ.update(KARMO_PROVIDER="sandbox", DJANGO_ALLOWED_HOSTS="127.0.0.1,testserver")
        import django

        django.setup()
        from django.contrib.auth.models import User
        from django.db import connection, connections
        from django.test import Client

        from accounts.tokens import issue_token

        data = Dataset(args, connection.vendor)
        built = built_already(data) if args.keep else None
        if built is None:
            built = build(data)
        print(f"built in {built['build_seconds']} s: {built['counts']}", flush=True)
        manager = User.objects.get(username="bench.manager")
        session = Client()
        session.force_login(manager)
        auth = {
            "bearer": f"Bearer {issue_token(manager, 'bench')[1]}",
            "cookies": {"sessionid": session.cookies["sessionid"].value},
        }
        work = mixed_plan(data, args.requests)
        connections.close_all()
        results: dict[str, dict[str, Any]] = {}
        load_before = os.getloadavg()[0]
        for name in ("runserver", "gunicorn"):
            base = f"http://127.0.0.1:{PORTS[name]}"
            server = serve(name, env, args, scratch / f"{name}.log")
            try:
                wait_serving(base, server)
                # Every gunicorn process warms its templates, URL resolver and connection.
                fire(base, auth, work[: args.warmup], 16)
                for concurrency in args.concurrency:
                    samples, wall = fire(base, auth, work, concurrency)
                    result = {"all": figures(samples, wall)}
                    for kind in ("api", "console"):
                        mine = [s for s in samples if (s[0] == "api") == (kind == "api")]
                        result[kind] = figures(mine, wall)
                    results[f"{name}-{concurrency}"] = result
                    print(f"{name:9} c={concurrency:<3} {result['all']}", flush=True)
            finally:
                server.terminate()
                server.wait(timeout=60)
            if any(
                k.startswith(name) and "500" in r["all"]["statuses"] for k, r in results.items()
            ):
                log = (scratch / f"{name}.log").read_text()
                print(log[log.find("Traceback") :][:3000], flush=True)
        major, minor = divmod(connection.pg_version, 10000)
    return {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "database_version": f"PostgreSQL {major}.{minor}",
        "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "gunicorn": {"workers": args.web, "threads": args.threads, "conn_max_age": 60},
        "log_level": "INFO (one line per request, as in production)",
        "requests_per_run": len(work),
        "warmup_requests": args.warmup,
        **built,
        "results": results,
        "speedup": {
            str(c): round(
                results[f"gunicorn-{c}"]["all"]["requests_per_second"]
                / results[f"runserver-{c}"]["all"]["requests_per_second"],
                2,
            )
            for c in args.concurrency
        },
    }


def write_report(result: dict[str, Any]) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    rows = []
    for key, found in result["results"].items():
        name, concurrency = key.split("-")
        for kind in ("all", "api", "console"):
            f = found[kind]
            ok = "✓" if f["p95_ms"] < P95_TARGET_MS else "✗"
            statuses = ", ".join(f"{k}×{v}" for k, v in f["statuses"].items())
            rows.append(
                f"| {name} | {concurrency} | {kind} | {f['requests']} | {statuses} | "
                f"{f['requests_per_second']} | {f['p50_ms']} | {f['p95_ms']} {ok} | {f['p99_ms']} |"
            )
    met = all(s >= 4 for s in result["speedup"].values()) and all(
        found["all"]["p95_ms"] < P95_TARGET_MS
        for key, found in result["results"].items()
        if key.startswith("gunicorn")
    )
    speedups = ", ".join(f"{c} clients {s}×" for c, s in result["speedup"].items())
    counts = result["counts"]
    load = result["load_average_1m"]
    g = result["gunicorn"]
    section = f"""{START}
## Production server: gunicorn against runserver, reads on PostgreSQL

`benchmarks/prod_load.py` ({result["measured_at"]}, {result["database_version"]}): the console
benchmark's dataset ({counts["memberships"]:,} memberships, {counts["people"]:,} people,
{counts["organizations"]:,} organizations, {counts["audit_events"]:,} audit events) in a
scratch database, served on 127.0.0.1 by `manage.py runserver --noreload` (today's way, a
thread per request, a new database connection per request) and then by gunicorn with
`karmo_admin/gunicorn_conf.py` ({g["workers"]} processes × {g["threads"]} threads,
`DJANGO_CONN_MAX_AGE={g["conn_max_age"]}` from that config), `DEBUG` off, rate limit off,
Karmo's one log line per request on in both. A second process sends
the same {result["requests_per_run"]} reads to each, half API (`GET /orgs`, an org's members,
a user, audit events; Bearer token), half console pages (search fragment, person, org, largest
org, audit log first and filtered pages; session cookie), from 8 and then 32 threads after
{result["warmup_requests"]} warm-up requests from 16 threads. Latency is what the client saw,
network and queueing included.
Target: gunicorn ≥ 4× runserver's requests/s with reads' p95 < {P95_TARGET_MS} ms.

| server | clients | reads | requests | statuses | requests/s | p50 ms | p95 ms | p99 ms |
|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Per-kind requests/s are each kind's share over the run's wall time. Throughput, gunicorn over
runserver: {speedups}; target {"met" if met else "not met"} in this run.
Machine: {result["machine"]}, shared with other jobs (load average {load[0]} → {load[1]});
the load generator runs on the same two cores as both servers and PostgreSQL.
Re-run with `.venv/bin/python benchmarks/prod_load.py` (dataset build a few minutes).
{END}"""
    write_section(REPORT, START, END, section)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--memberships", type=int, default=1_000_000)
    parser.add_argument("--orgs", type=int, default=2_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=800, help="requests per run")
    parser.add_argument("--warmup", type=int, default=200, help="warm-up requests per server")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32])
    parser.add_argument(
        "--keep", default="", help="build into (or reuse) this database and keep it afterwards"
    )
    parser.add_argument("--web", type=int, default=2, help="gunicorn processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn process")
    result = run(parser.parse_args())
    write_report(result)
    print(f"wrote {RESULTS.relative_to(ROOT)} and the production section of {REPORT.name}")


if __name__ == "__main__":
    main()

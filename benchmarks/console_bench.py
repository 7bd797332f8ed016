"""Console page times over a large mirror: 100,000 people, 1,000,000 memberships, audit events.

Usage: .venv/bin/python benchmarks/console_bench.py [--database sqlite|postgres]
       [--users N] [--memberships N] [--orgs N] [--events N] [--requests N] [--postgres-url URL]
       [--profile KIND]

The dataset is bulk-loaded (executemany on SQLite, COPY on PostgreSQL) into a scratch database,
a fresh SQLite file in a temp dir or the PostgreSQL database `karmo_bench`, dropped at the end.
A manager signed in with Django's test Client requests each page; the time is server time in
process (middleware, view, queries, template), no network. Writes
benchmarks/results/console-<db>.json and the console section of BENCHMARKS.md; with --profile,
prints where one page kind spends its CPU instead and writes nothing.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from common import machine, write_section
from console_dataset import Dataset, build

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
REPORT = ROOT / "BENCHMARKS.md"
START, END = "<!-- console:start -->", "<!-- console:end -->"
SCRATCH_DB = "karmo_bench"
DATABASES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
WARMUP = 10
# page kind -> (label, p95 target in ms)
PAGES = {
    "search": ("search as you type (htmx results fragment)", 50),
    "search_inside": ("search inside: part of an email, a domain, part of an id in capitals", 50),
    "person": ("person page", 50),
    "org": ("org page, first 25 members", 150),
    "org_largest": ("org page, largest org (every person a member)", 150),
    "audit": ("audit log, first page", 150),
    "audit_filtered": ("audit log, filtered or older page", 150),
}


def keystrokes(text: str, start: int = 2) -> list[str]:
    """What search-as-you-type sends while `text` is typed: 2 to 6 characters, or from `start`."""
    return [text[:k].lower() for k in range(start, min(len(text), start + 4) + 1)]


def plan(data: Dataset, count: int) -> dict[str, list[str]]:
    """The paths each page kind is timed on: random people, orgs, typed queries and filters."""
    from accounts.models import Organization, ProviderUser

    rng = random.Random(11)
    picked = rng.sample(range(1, data.n_users + 1), min(count, data.n_users))
    people = list(
        ProviderUser.objects.filter(pk__in=picked).values_list(
            "pk", "email", "first_name", "last_name", "external_id"
        )
    )
    orgs = list(
        Organization.objects.filter(
            pk__in=rng.sample(range(2, data.n_orgs + 1), min(count, data.n_orgs - 1))
        ).values_list("pk", "name", "external_id")
    )
    rng.shuffle(people)
    rng.shuffle(orgs)
    typed: list[str] = []
    for i, (_, email, first, last, external_id) in enumerate(itertools.cycle(people)):
        if len(typed) >= count:
            break
        typed += [
            keystrokes(email),
            keystrokes(last),
            keystrokes(f"{first} {last}", start=len(first) + 2),
            keystrokes(orgs[i % len(orgs)][1]),
            [external_id],
        ][i % 5]
    inside = [
        [email[3:11], email.split("@")[1].split(".")[0], external_id[5:15].upper(), last[1:5]][
            i % 4
        ]
        for i, (_, email, first, last, external_id) in enumerate(
            itertools.islice(itertools.cycle(people), count)
        )
    ]
    day = (data.now - timedelta(days=rng.randrange(7, 300))).date()
    filters = [
        lambda i: {"person": people[i % len(people)][4]},
        lambda i: {"person": people[i % len(people)][1]},
        lambda i: {"organization": orgs[i % len(orgs)][2]},
        lambda i: {"action": "request.*"},
        lambda i: {"actor": "bench.helpdesk", "outcome": "denied"},
        lambda i: {"before": rng.randrange(1, max(2, data.n_events))},
        lambda i: {"action": "membership.reactivated", "since": day, "until": day + timedelta(6)},
    ]
    return {
        "search": [f"/find/?{urlencode({'q': q})}" for q in typed[:count]],
        "search_inside": [f"/find/?{urlencode({'q': q})}" for q in inside],
        "person": [f"/people/{p[0]}/" for p in itertools.islice(itertools.cycle(people), count)],
        "org": [f"/orgs/{o[0]}/" for o in itertools.islice(itertools.cycle(orgs), count)],
        "org_largest": ["/orgs/1/"] * max(WARMUP, count // 4),
        "audit": ["/audit/"] * count,
        "audit_filtered": [
            f"/audit/?{urlencode(filters[i % len(filters)](i))}" for i in range(count)
        ],
    }


def measure(client: Any, paths: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    """Per page kind: wall and CPU ms per request, and the query count of one request.

    The kinds take turns request by request, so a burst of load from elsewhere on the machine
    falls on all of them alike.
    """
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def get(kind: str, path: str) -> tuple[float, float]:
        headers = {"HX-Request": "true"} if kind.startswith("search") else {}
        wall, cpu = time.perf_counter(), time.process_time()
        response = client.get(path, headers=headers)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if response.status_code != 200:
            raise SystemExit(f"GET {path} answered {response.status_code}")
        return wall * 1000, cpu * 1000

    found: dict[str, dict[str, Any]] = {}
    for kind, kind_paths in paths.items():
        for path in kind_paths[:WARMUP]:
            get(kind, path)
        with CaptureQueriesContext(connection) as queries:
            get(kind, kind_paths[0])
        # Count now: the next request clears the connection's query log.
        found[kind] = {"wall": [], "cpu": [], "queries": len(queries)}
    for i in range(max(len(p) for p in paths.values())):
        for kind, kind_paths in paths.items():
            if i < len(kind_paths):
                wall, cpu = get(kind, kind_paths[i])
                found[kind]["wall"].append(wall)
                found[kind]["cpu"].append(cpu)
    return found


def profile(client: Any, kind: str, paths: list[str]) -> None:
    """Print the functions one page kind spends its time in, over its planned requests."""
    import cProfile
    import pstats

    headers = {"HX-Request": "true"} if kind.startswith("search") else {}
    for path in paths[:WARMUP]:
        client.get(path, headers=headers)
    profiler = cProfile.Profile()
    profiler.enable()
    for path in paths:
        client.get(path, headers=headers)
    profiler.disable()
    stats = pstats.Stats(profiler).strip_dirs()
    for order in ("tottime", "cumulative"):
        stats.sort_stats(order).print_stats(35)


def summarise(times: list[float], cpu: list[float], target: int) -> dict[str, Any]:
    """Median, p95 and max in ms against the p95 target; the bench process's CPU ms too."""
    p95 = statistics.quantiles(times, n=20, method="inclusive")[18]
    return {
        "requests": len(times),
        "median_ms": round(statistics.median(times), 1),
        "p95_ms": round(p95, 1),
        "max_ms": round(max(times), 1),
        "target_p95_ms": target,
        "meets_target": p95 < target,
        "cpu_median_ms": round(statistics.median(cpu), 1),
        "cpu_p95_ms": round(statistics.quantiles(cpu, n=20, method="inclusive")[18], 1),
    }


def by_filter(paths: list[str], times: list[float]) -> dict[str, float]:
    """Median ms per combination of audit filters (the query string's keys)."""
    groups: dict[str, list[float]] = {}
    for path, ms in zip(paths, times, strict=True):
        groups.setdefault("+".join(sorted(parse_qs(urlsplit(path).query))), []).append(ms)
    return {name: round(statistics.median(found), 1) for name, found in groups.items()}


def admin_sql(server: str, *statements: str) -> None:
    """Run statements on the server's maintenance database, outside a transaction."""
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        for sql in statements:
            admin.execute(sql)


@contextmanager
def scratch_database(kind: str, server: str) -> Iterator[tuple[str, Path]]:
    """A fresh database URL and temp dir; both are removed afterwards."""
    scratch = Path(tempfile.mkdtemp(prefix="karmo-console-bench-"))
    drop = f"DROP DATABASE IF EXISTS {SCRATCH_DB} WITH (FORCE)"
    if kind == "postgres":
        admin_sql(server, drop, f"CREATE DATABASE {SCRATCH_DB}")
    url = f"sqlite:///{scratch / 'bench.sqlite3'}" if kind == "sqlite" else f"{server}/{SCRATCH_DB}"
    try:
        yield url, scratch
    finally:
        if "django.db" in sys.modules:
            from django.db import connections

            connections.close_all()
        if kind == "postgres":
            admin_sql(server, drop)
        shutil.rmtree(scratch, ignore_errors=True)


def bench(args: argparse.Namespace) -> dict[str, Any]:
    """Build the dataset in a scratch database, time every page kind; the figures."""
    with scratch_database(args.database, args.postgres_url.rstrip("/")) as (url, scratch):
        os.environ.update(
            DATABASE_URL=url,
            DJANGO_SETTINGS_MODULE="karmo_admin.settings",
            DJANGO_DEBUG="false",
            DJANGO_ALLOWED_HOSTS="testserver",
            KARMO_PROVIDER="sandbox",
            KARMO_SANDBOX_FLAVOR="workos",
            KARMO_SANDBOX_DIR=str(scratch / "sandbox"),
            KARMO_SANDBOX_URL="",
            KARMO_LOG_LEVEL="WARNING",
        )
        import django

        django.setup()
        from django.contrib.auth.models import User
        from django.db import connection, connections
        from django.test import Client

        data = Dataset(args, connection.vendor)
        built = build(data)
        print(f"built in {built['build_seconds']} s: {built['counts']}", flush=True)
        connections.close_all()  # pages run on a fresh connection with the app's own pragmas
        client = Client()
        client.force_login(User.objects.get(username="bench.manager"))
        paths = plan(data, args.requests)
        if args.profile:
            profile(client, args.profile, paths[args.profile])
            return {}
        load_before, started = os.getloadavg()[0], time.perf_counter()
        pages = {}
        for kind, found in measure(client, paths).items():
            pages[kind] = summarise(found["wall"], found["cpu"], PAGES[kind][1])
            pages[kind]["queries"] = found["queries"]
            if kind == "audit_filtered":
                pages[kind]["median_ms_by_filter"] = by_filter(paths[kind], found["wall"])
            print(f"{PAGES[kind][0]:48} {pages[kind]}", flush=True)
        if connection.vendor == "sqlite":
            import sqlite3

            version = f"SQLite {sqlite3.sqlite_version}"
        else:
            major, minor = divmod(connection.pg_version, 10000)
            version = f"PostgreSQL {major}.{minor}"
    return {
        "database": args.database,
        "database_version": version,
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "timing_seconds": round(time.perf_counter() - started, 1),
        **built,
        "pages": pages,
    }


def run_line(run: dict[str, Any], counts: dict[str, int]) -> str:
    """One database's circumstances, and its filtered audit log by filter."""
    filters = run["pages"]["audit_filtered"].get("median_ms_by_filter", {})
    return (
        f"- {run['database_version']}: measured {run['measured_at']}, "
        f"{run['pages']['person']['requests']} timed requests per page kind, dataset built in "
        f"{run['build_seconds']} s (migrate {run['migrate_seconds']} s), load average "
        f"{run['load_average_1m'][0]} → {run['load_average_1m'][1]}"
        + ("" if run["counts"] == counts else f", another dataset: {run['counts']}")
        + ". Filtered audit log, median ms by filter: "
        + ", ".join(f"{name} {ms}" for name, ms in filters.items())
        + "."
    )


def write_report() -> None:
    """The console section of BENCHMARKS.md, from every results/console-<db>.json present."""
    runs = {
        db: json.loads(path.read_text())
        for db in DATABASES
        if (path := RESULTS / f"console-{db}.json").exists()
    }
    if not runs:
        return
    heads = "".join(f" {DATABASES[db]} median | {DATABASES[db]} p95 |" for db in runs)
    lines = [f"| page | p95 target |{heads} queries |", "|---" * (3 + 2 * len(runs)) + "|"]
    for kind, (label, target) in PAGES.items():
        cells = "".join(
            f" {r['pages'][kind]['median_ms']} | {r['pages'][kind]['p95_ms']}"
            f" {'✓' if r['pages'][kind]['meets_target'] else '✗'} |"
            for r in runs.values()
            if kind in r["pages"]
        )
        queries = " / ".join(str(r["pages"][kind]["queries"]) for r in runs.values())
        lines.append(f"| {label} | < {target} ms |{cells} {queries} |")
    first = next(iter(runs.values()))
    c = first["counts"]
    per_person = c["memberships"] // c["people"]
    per_org = (c["memberships"] - c["people"]) // max(1, c["organizations"] - 1)
    per_db = "\n".join(run_line(r, c) for r in runs.values())
    section = f"""{START}
## Console pages over a large mirror

`benchmarks/console_bench.py` bulk-loads a scratch database (a temp SQLite file, or the
PostgreSQL database `{SCRATCH_DB}`; both dropped afterwards) with {c["organizations"]:,}
organizations, {c["people"]:,} people, {c["memberships"]:,} memberships ({per_person} per person;
every person is in the largest org, the others have about {per_org} members each),
{c["membership_roles"]:,} membership roles, {c["organization_roles"]:,} organization roles,
{c["pending_requests"]} pending requests and {c["audit_events"]:,} audit events over a year,
then analyses it (`ANALYZE` on SQLite, `VACUUM ANALYZE` on PostgreSQL). A manager signed in
through Django's test Client requests each page after {WARMUP} warm-up requests, the page kinds
taking turns request by request. Times are server time in process: middleware, view, queries
and template, without network; `DEBUG` off, sandbox provider, the database connection kept open
between requests. The JSON files also hold the bench process's CPU time per request (which on
PostgreSQL leaves out the database server's own work).

Search replays the keystrokes (2 to 6 characters) of typing part of an email, a last name,
"first last" or an org name, and pasted provider ids, as htmx fragment requests. Person and org
pages are random ones. The filtered audit log rotates over person (id or email), organization,
`request.*`, actor with outcome, a random older page, and an action within a week's date range.
Queries: per request ({" / ".join(DATABASES[d] for d in runs)}).

{chr(10).join(lines)}

Times in ms; ✓ p95 under the target, ✗ over it. Machine: {first["machine"]}, shared with other
jobs while measuring (see the load averages).

{per_db}

Re-run with `.venv/bin/python benchmarks/console_bench.py --database sqlite` and
`--database postgres` (`--postgres-url` for another server; a few minutes each).
{END}"""
    write_section(REPORT, START, END, section)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=list(DATABASES), default="sqlite")
    parser.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--memberships", type=int, default=1_000_000)
    parser.add_argument("--orgs", type=int, default=2_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per page kind")
    parser.add_argument("--profile", choices=list(PAGES), help="profile one page kind only")
    args = parser.parse_args()
    if args.orgs < 2 or args.users < 1 or args.memberships < 1 or args.requests < 2:
        parser.error("need at least 2 orgs, 1 user, 1 membership and 2 requests")
    figures = bench(args)
    if args.profile:
        return
    out = RESULTS / f"console-{args.database}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    write_report()
    print(f"wrote {out.relative_to(ROOT)} and the console section of {REPORT.name}")


if __name__ == "__main__":
    main()

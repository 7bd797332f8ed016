"""Append audit events and verify a long hash chain in a scratch database; print and save figures.

Usage: .venv/bin/python benchmarks/audit_bench.py [--database sqlite|postgres]
       [--append 100000] [--batch 1000] [--single 2000] [--verify 1000000]

SQLite runs on a fresh temporary file; PostgreSQL on a scratch database (`karmo_audit_bench` at
postgres://postgres@127.0.0.1:5432 unless --postgres-url says otherwise) that is created, migrated
and dropped at the end. Appending goes through accounts.audit.record_events (in batches) and
record_event (one call per event); the chain is then extended to --verify events with the real
hashing code (bulk inserts) and checked by verify_chain() and `manage.py verify_audit_log`.
Writes benchmarks/results/audit-<database>.json and the audit section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import machine, process_cpu_seconds, write_section

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
REPORT = ROOT / "BENCHMARKS.md"
START, END = "<!-- audit:start -->", "<!-- audit:end -->"
VERIFY_TARGET_SECONDS = 10.0
BUILD_CHUNK = 20_000
HEADER = (
    "| database | record_events, events/s | record_event, events/s | verify_chain() "
    "| floor (ratio) | proof p95 | verify_audit_log | measured |\n|---|---|---|---|---|---|---|---|"
)


def scratch_postgres(url: str, create: bool) -> None:
    """Create (or drop) the scratch PostgreSQL database named by url."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    if name in {"", "postgres", "test", "karmo"}:
        raise SystemExit(f"refusing to use {name!r} as the scratch database")
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            conn.execute(f'CREATE DATABASE "{name}"')


def specs(count: int, offset: int, actor: Any) -> list:
    """Events shaped like the console's: a target, before/after, data and a correlation id."""
    from accounts.audit import EventSpec
    from accounts.models import Organization

    out = []
    for i in range(offset, offset + count):
        organization = Organization(external_id=f"org_{i % 2000:05d}", name=f"Org {i % 2000}")
        out.append(
            EventSpec(
                event_type="organization.reactivated" if i % 2 else "organization.deactivated",
                outcome="succeeded",
                actor=actor,
                target=organization,
                reason=f"benchmark change {i}",
                provider_request_id=f"req_{i:08d}",
                before={"status": "inactive" if i % 2 else "active"},
                after={"status": "active" if i % 2 else "inactive"},
                data={"request": i, "changed": True},
                correlation_id=f"{i:08d}-0000-4000-8000-000000000000",
                via="console",
            )
        )
    return out


def server_cpu() -> float:
    """CPU seconds so far of this connection's PostgreSQL backend (0 on SQLite: in-process).

    The server runs on this machine; on a shared machine wall time mostly measures waiting for
    a CPU, so the appends are also given as events per CPU second (ours plus the server's).
    """
    from django.db import connection

    if connection.vendor != "postgresql":
        return 0.0
    connection.ensure_connection()
    return process_cpu_seconds(connection.connection.info.backend_pid)


class Clock:
    """Wall time, this process's CPU time and the database server's CPU time, summed."""

    def __init__(self) -> None:
        self.wall = self.cpu = self.server = 0.0

    def __enter__(self) -> Clock:
        self._started = (time.perf_counter(), time.process_time(), server_cpu())
        return self

    def __exit__(self, *exc: object) -> None:
        wall, cpu, server = self._started
        self.server += server_cpu() - server
        self.wall += time.perf_counter() - wall
        self.cpu += time.process_time() - cpu

    def figures(self, events: int) -> dict:
        """Rates by wall time and by CPU time (client and server)."""
        cpu = self.cpu + self.server
        return {
            "events": events,
            "seconds": round(self.wall, 2),
            "events_per_second": round(events / self.wall),
            "cpu_seconds": round(self.cpu, 2),
            "server_cpu_seconds": round(self.server, 2),
            "events_per_cpu_second": round(events / cpu) if cpu else None,
        }


def bench_append(total: int, batch: int, single: int) -> dict:
    """record_events in batches of `batch`, then `single` record_event calls."""
    from django.contrib.auth.models import User

    from accounts.audit import record_event, record_events
    from accounts.context import audit_context

    actor = User.objects.create_user("bench.actor", is_staff=True)
    context = {"client_ip": "127.0.0.1", "user_agent": "audit-bench", "request_id": "bench"}
    figures: dict = {}
    with audit_context(**context):
        clock = Clock()
        for offset in range(0, total, batch):
            prepared = specs(min(batch, total - offset), offset, actor)
            with clock:
                record_events(prepared)
        figures["batched"] = {**clock.figures(total), "batch_size": batch}
        prepared = specs(single, total, actor)
        clock = Clock()
        with clock:
            for spec in prepared:
                record_event(**{name: getattr(spec, name) for name in spec.__dataclass_fields__})
        figures["single"] = clock.figures(single)
    return figures


def extend_chain(total: int) -> float:
    """Append events until the chain holds `total`; returns the seconds it took.

    Through accounts.audit.record_described (sync's bulk writer: the same rows, chain and tree
    nodes as record_events, without building model instances), 20,000 events per transaction.
    """
    from accounts.audit import EventSpec, record_described
    from accounts.audit_tree import tree_size
    from accounts.context import audit_context

    started = time.perf_counter()
    template = EventSpec(
        event_type="",
        outcome="succeeded",
        reason="bulk-built for the verify benchmark",
        data={"changed": True, "source": "audit-bench"},
        correlation_id="00000000-0000-4000-8000-000000000000",
        via="api",
    )
    before = {"roles": ["org-viewer"], "status": "inactive"}
    after = {"roles": ["org-viewer"], "status": "active"}
    sequence = tree_size()
    with audit_context(client_ip="127.0.0.1", user_agent="audit-bench", request_id="bench"):
        while sequence < total:
            count = min(BUILD_CHUNK, total - sequence)
            items = [
                (
                    "membership.reactivated",
                    {
                        "target_type": "organizationmembership",
                        "target_id": f"om_{n:09d}",
                        "target_repr": f"person{n % 100_000}@example.com in Org {n % 2000}",
                        "organization_external_id": f"org_{n % 2000:05d}",
                        "user_external_id": f"user_{n % 100_000:06d}",
                    },
                    before,
                    after,
                )
                for n in range(sequence + 1, sequence + count + 1)
            ]
            sequence += record_described(template, items)
    return time.perf_counter() - started


def bench_floor() -> dict:
    """The floor of any verifier: read each event's canonical bytes and hash them once, no more.

    The bytes come as the verifier reads them (accounts.audit_rows: on SQLite written by the
    database, elsewhere encoded from the row), so the ratio shows what checking the chain and
    rebuilding the tree add to reading and hashing.
    """
    import hashlib

    from accounts import audit_rows

    sha256 = hashlib.sha256
    started, cpu = time.perf_counter(), time.process_time()
    count = 0
    for _sequence, _link, _stored, data in audit_rows.rows():
        sha256(data).digest()
        count += 1
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    return {"events": count, "seconds": round(seconds, 2), "cpu_seconds": round(cpu_seconds, 2)}


def bench_proofs(samples: int = 1000) -> dict:
    """Inclusion and consistency proofs at the built size: latency percentiles in ms."""
    import random

    from accounts import audit_tree

    size = audit_tree.tree_size()
    picks = random.Random(12).sample(range(size), min(samples, size))
    figures = {"tree_size": size, "samples": len(picks)}
    for kind, call in (
        ("inclusion", lambda i: audit_tree.inclusion_proof(i, size)),
        ("consistency", lambda i: audit_tree.consistency_proof(i + 1, size)),
    ):
        timings = []
        for index in picks:
            started = time.perf_counter()
            call(index)
            timings.append((time.perf_counter() - started) * 1000)
        timings.sort()
        figures[kind] = {
            "p50_ms": round(timings[len(timings) // 2], 3),
            "p95_ms": round(timings[int(len(timings) * 0.95)], 3),
            "max_ms": round(timings[-1], 3),
        }
    return figures


def bench_verify(env: dict[str, str]) -> dict:
    """verify_chain() in this process, then `manage.py verify_audit_log` as a fresh process."""
    from accounts.audit import verify_chain

    started, cpu = time.perf_counter(), time.process_time()
    result = verify_chain()
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    if not result.ok:
        raise SystemExit(f"the benchmark chain does not verify: {result}")
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - this repository's manage.py, fixed arguments
        [sys.executable, str(ROOT / "manage.py"), "verify_audit_log"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    command_seconds = time.perf_counter() - started
    last_line = (done.stdout.strip().splitlines() or [""])[-1]
    if done.returncode:
        raise SystemExit(f"verify_audit_log failed:\n{done.stdout}\n{done.stderr}")
    return {
        "events": result.count,
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu_seconds, 2),
        "events_per_second": round(result.count / seconds),
        "target_seconds": VERIFY_TARGET_SECONDS,
        "command_seconds": round(command_seconds, 2),
        "command_last_line": last_line,
    }


def bench(args: argparse.Namespace) -> dict:
    """Set up the scratch database, run both measurements, tear it down."""
    scratch = None
    if args.database == "sqlite":
        scratch = Path(tempfile.mkdtemp(prefix="karmo-audit-bench-"))
        url = f"sqlite:///{scratch / 'bench.sqlite3'}"
    else:
        url = args.postgres_url
        scratch_postgres(url, create=True)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "karmo_admin.settings",
        "KARMO_LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    try:
        call_command("migrate", verbosity=0, interactive=False)
        run: dict = {"database": connection.vendor}
        run["append"] = bench_append(args.append, args.batch, args.single)
        print(f"append: {run['append']}", flush=True)
        build_seconds = extend_chain(args.verify)
        run["build_seconds"] = round(build_seconds, 1)
        print(f"built a chain of {args.verify} events in {build_seconds:.1f} s", flush=True)
        run["verify"] = bench_verify(env)
        print(f"verify: {run['verify']}", flush=True)
        run["floor"] = bench_floor()
        run["floor"]["ratio"] = round(run["verify"]["seconds"] / run["floor"]["seconds"], 2)
        run["floor"]["cpu_ratio"] = round(
            run["verify"]["cpu_seconds"] / run["floor"]["cpu_seconds"], 2
        )
        print(f"floor: {run['floor']}", flush=True)
        run["proofs"] = bench_proofs()
        print(f"proofs: {run['proofs']}", flush=True)
        run["load_average_1m"] = round(os.getloadavg()[0], 2)
    finally:
        connection.close()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            scratch_postgres(url, create=False)
    run["measured_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    run["machine"] = machine()
    return run


def _floor(run: dict) -> str:
    floor = run.get("floor")
    if not floor:
        return "not measured"
    if "cpu_seconds" not in floor:
        return f"{floor['seconds']} s (×{floor['ratio']})"
    return (
        f"{floor['seconds']} s, CPU {floor['cpu_seconds']} s "
        f"(×{floor['ratio']}; CPU ×{floor['cpu_ratio']})"
    )


def _proofs(run: dict) -> str:
    proofs = run.get("proofs")
    if not proofs:
        return "not measured"
    return (
        f"inclusion {proofs['inclusion']['p95_ms']} ms, consistency "
        f"{proofs['consistency']['p95_ms']} ms at {proofs['tree_size']:,}"
    )


def _rate(figures: dict, unit: str = "events") -> str:
    count, seconds = figures["events"], figures["seconds"]
    text = f"{figures['events_per_second']:,} ({count:,} {unit} in {seconds} s"
    if figures.get("events_per_cpu_second"):
        text += (
            f"; {figures['events_per_cpu_second']:,} per CPU second: {figures['cpu_seconds']} s "
            f"ours + {figures['server_cpu_seconds']} s server"
        )
    return text + ")"


def write_report() -> None:
    """The audit section of BENCHMARKS.md from every audit-*.json present."""
    runs = [json.loads(path.read_text()) for path in sorted(RESULTS.glob("audit-*.json"))]
    runs.sort(key=lambda run: run["database"] != "sqlite")  # the target's database first
    if not runs:
        return
    rows = []
    for run in runs:
        a, v = run["append"], run["verify"]
        verdict = ""
        if run["database"] == "sqlite":
            met = {True: "met", False: "missed"}
            verdict = (
                f"; target {met[v['seconds'] <= VERIFY_TARGET_SECONDS]} by wall time, "
                f"{met[v['cpu_seconds'] <= VERIFY_TARGET_SECONDS]} by CPU time"
            )
        rows.append(
            f"| {run['database']} | {_rate(a['batched'])} | {_rate(a['single'], 'calls')} "
            f"| {v['events']:,} in {v['seconds']} s (CPU {v['cpu_seconds']} s{verdict}) "
            f"| {_floor(run)} | {_proofs(run)} "
            f"| {v['command_seconds']} s: `{v['command_last_line']}` "
            f"| {run['measured_at']}, load {run['load_average_1m']} |"
        )
    batch = runs[0]["append"]["batched"]["batch_size"]
    section = f"""{START}
## Audit log: appending and verifying

`benchmarks/audit_bench.py`, each database a scratch one (a temporary SQLite file; a PostgreSQL
database created and dropped by the script). Appending goes through `accounts.audit.record_events`
in batches of {batch} (one transaction and one chain lock per batch, as sync writes them) and
through single `record_event` calls (one transaction each, as a console change writes them);
each is given per wall second and per CPU second (this process's CPU plus, on PostgreSQL, the
server backend's, read from /proc: the rate the appends would reach with a CPU to themselves).
The chain and its Merkle tree are then extended by `record_described` (sync's bulk writer) to
the count shown and walked by `verify_chain()` (chain and tree rebuilt together), then by
`manage.py verify_audit_log` in a fresh process (its time includes Django start-up and the
stored tree's root check). "Floor" reads each event's canonical bytes the way the verifier
does (`accounts.audit_rows`; on SQLite the database writes them with json_object) and hashes
them once with hashlib, nothing else; the ratios are verify_chain()'s wall and CPU times over
it. "Proof p95" is 1,000 random inclusion (and consistency) proofs from the stored tree, one
query each. Target: verifying 1,000,000 events, chain and tree, in at most
{VERIFY_TARGET_SECONDS:.0f} s on SQLite (judged on wall and on CPU time). Machine:
{runs[0]["machine"]}, shared with other work (1-minute load average shown): with the load above
the CPU count, wall times include waiting for a CPU, and "CPU" is the verifying process's own time
(SQLite reads run inside it; PostgreSQL's server process is not counted).

{HEADER}
{chr(10).join(rows)}

Re-run with `.venv/bin/python benchmarks/audit_bench.py --database sqlite` (or `postgres`).
{END}"""
    write_section(REPORT, START, END, section)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--postgres-url", default="postgres://postgres@127.0.0.1:5432/karmo_audit_bench"
    )
    parser.add_argument("--append", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--single", type=int, default=2000)
    parser.add_argument("--verify", type=int, default=1_000_000)
    parser.add_argument("--no-report", action="store_true", help="Print only; write nothing.")
    args = parser.parse_args()
    run = bench(args)
    if args.no_report:
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"audit-{args.database}.json"
    out.write_text(json.dumps(run, indent=2, sort_keys=True) + "\n")
    write_report()
    print(f"wrote {out.relative_to(ROOT)} and the audit section of {REPORT.name}")


if __name__ == "__main__":
    main()

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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from common import machine, write_section

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
REPORT = ROOT / "BENCHMARKS.md"
START, END = "<!-- audit:start -->", "<!-- audit:end -->"
VERIFY_TARGET_SECONDS = 20.0
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


def bench_append(total: int, batch: int, single: int) -> dict:
    """record_events in batches of `batch`, then `single` record_event calls."""
    from django.contrib.auth.models import User

    from accounts.audit import record_event, record_events
    from accounts.context import audit_context

    actor = User.objects.create_user("bench.actor", is_staff=True)
    context = {"client_ip": "127.0.0.1", "user_agent": "audit-bench", "request_id": "bench"}
    figures: dict = {}
    with audit_context(**context):
        elapsed = 0.0
        for offset in range(0, total, batch):
            prepared = specs(min(batch, total - offset), offset, actor)
            started = time.perf_counter()
            record_events(prepared)
            elapsed += time.perf_counter() - started
        figures["batched"] = {
            "events": total,
            "batch_size": batch,
            "seconds": round(elapsed, 2),
            "events_per_second": round(total / elapsed),
        }
        prepared = specs(single, total, actor)
        started = time.perf_counter()
        for spec in prepared:
            record_event(**{name: getattr(spec, name) for name in spec.__dataclass_fields__})
        elapsed = time.perf_counter() - started
        figures["single"] = {
            "events": single,
            "seconds": round(elapsed, 2),
            "events_per_second": round(single / elapsed),
        }
    return figures


def extend_chain(total: int) -> float:
    """Append hashed events until the chain holds `total`; returns the seconds it took.

    The hashes come from accounts.audit.compute_hash; the rows go in with executemany, since
    building a million model instances for bulk_create would dominate the benchmark's run time.
    """
    import hashlib

    from django.db import connection, transaction

    from accounts import audit_tree
    from accounts.audit import GENESIS_HASH, HASHED_FIELDS, canonical, to_json
    from accounts.merkle import extend, leaf_hash
    from accounts.models import AuditEvent

    started = time.perf_counter()
    meta = AuditEvent._meta
    names = [*HASHED_FIELDS, "hash"]
    columns = ", ".join(connection.ops.quote_name(meta.get_field(n).column) for n in names)
    placeholders = ", ".join(["%s"] * len(names))
    table = connection.ops.quote_name(meta.db_table)
    insert = f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"  # noqa: S608 - model names
    adapt = {
        name: meta.get_field(name).get_db_prep_save
        for name in ("occurred_at", "before", "after", "data")
    }
    before = to_json({"status": "inactive", "roles": ["org-viewer"]})
    after = to_json({"status": "active", "roles": ["org-viewer"]})
    last = AuditEvent.objects.order_by("-sequence").values_list("sequence", "hash").first()
    sequence, prev_hash = last or (0, GENESIS_HASH)
    frontier = audit_tree.frontier(sequence)
    moment = datetime.now(UTC) - timedelta(days=365)
    while sequence < total:
        rows, leaves, first = [], [], sequence
        for _ in range(min(BUILD_CHUNK, total - sequence)):
            sequence += 1
            event = SimpleNamespace(
                sequence=sequence,
                occurred_at=moment + timedelta(milliseconds=sequence * 31),
                event_type="membership.reactivated",
                outcome="succeeded",
                actor_id=None,
                actor_repr="bench.actor",
                token_id=None,
                via="api",
                target_type="organizationmembership",
                target_id=f"om_{sequence:09d}",
                target_repr=f"person{sequence % 100_000}@example.com in Org {sequence % 2000}",
                organization_external_id=f"org_{sequence % 2000:05d}",
                user_external_id=f"user_{sequence % 100_000:06d}",
                reason="bulk-built for the verify benchmark",
                error_code="",
                provider_request_id=f"req_{sequence:09d}",
                before=before,
                after=after,
                data={"changed": True, "request": sequence},
                client_ip="127.0.0.1",
                user_agent="audit-bench",
                request_id=f"r{sequence}",
                correlation_id=f"{sequence:08d}-0000-4000-8000-000000000000",
                prev_hash=prev_hash,
            )
            data = canonical(event).encode()  # type: ignore[arg-type]
            event.hash = prev_hash = hashlib.sha256(prev_hash.encode() + data).hexdigest()
            leaves.append(leaf_hash(data))
            values = vars(event)
            rows.append(
                [
                    adapt[name](values[name], connection) if name in adapt else values[name]
                    for name in names
                ]
            )
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(insert, rows)
            audit_tree.write_nodes(list(extend(frontier, leaves, first)))
    return time.perf_counter() - started


def bench_floor() -> dict:
    """The floor of any verifier: read the rows and hash each one's canonical bytes, no more."""
    import hashlib
    import json

    from accounts.audit import HASHED_FIELDS, _utc_iso
    from accounts.models import AuditEvent

    names = tuple(sorted(HASHED_FIELDS))
    encode = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
    at = names.index("occurred_at")
    started = time.perf_counter()
    count = 0
    rows = AuditEvent.objects.order_by("sequence").values_list(*names)
    for row in rows.iterator(chunk_size=2000):
        payload = dict(zip(names, row, strict=True))
        if isinstance(row[at], datetime):
            payload["occurred_at"] = _utc_iso(row[at])
        hashlib.sha256(encode(payload).encode()).digest()
        count += 1
    seconds = time.perf_counter() - started
    return {"events": count, "seconds": round(seconds, 2)}


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
    return f"{floor['seconds']} s (×{floor['ratio']})" if floor else "not measured"


def _proofs(run: dict) -> str:
    proofs = run.get("proofs")
    if not proofs:
        return "not measured"
    return (
        f"inclusion {proofs['inclusion']['p95_ms']} ms, consistency "
        f"{proofs['consistency']['p95_ms']} ms at {proofs['tree_size']:,}"
    )


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
            verdict = "; target met" if v["seconds"] < VERIFY_TARGET_SECONDS else "; target missed"
        rows.append(
            f"| {run['database']} | {a['batched']['events_per_second']:,} "
            f"({a['batched']['events']:,} in {a['batched']['seconds']} s) "
            f"| {a['single']['events_per_second']:,} ({a['single']['events']:,} calls) "
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
through single `record_event` calls (one transaction each, as a console change writes them).
The chain and its Merkle tree are then extended with bulk inserts hashed by the real code to
the count shown and walked by `verify_chain()` (chain and tree rebuilt together), then by
`manage.py verify_audit_log` in a fresh process (its time includes Django start-up and the
stored tree's root check). "Floor" reads the same rows and hashes each one's canonical bytes
with hashlib and nothing else; the ratio is verify_chain()'s time over it. "Proof p95" is 1,000
random inclusion (and consistency) proofs from the stored tree, one query each. Target:
verifying 1,000,000 events in under {VERIFY_TARGET_SECONDS:.0f} s on SQLite (met or missed
compares the wall time). Machine:
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

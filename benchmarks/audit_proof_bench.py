"""Inclusion proofs from a PostgreSQL audit tree of 10,000,000 events; print and save figures.

Usage: .venv/bin/python benchmarks/audit_proof_bench.py [--leaves 10000000] [--samples 1000]
       [--postgres-url postgres://postgres@127.0.0.1:5432/karmo_audit_proof_bench]

The scratch database is created, migrated and dropped. The tree's nodes are generated inside
PostgreSQL, level by level, with RFC 6962 hashing (leaf = SHA-256(0x00 || bytes), node =
SHA-256(0x01 || left || right)) over synthetic leaf bytes: a proof reads only tree nodes, so the
events themselves are not generated. The node table is unlogged while it is filled (nothing
here needs to survive a crash). Then --samples random leaves each get the audit path alone
(accounts.audit_tree.inclusion_proof, one query), then path and root together as the proof
endpoint reads them (inclusion_proof_and_root, one query); every path is checked to lead to
that root with the offline verifier's own function. Writes
benchmarks/results/audit-proofs-postgres.json and the audit-proofs section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from audit_bench import scratch_postgres
from common import machine, write_section

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
REPORT = ROOT / "BENCHMARKS.md"
START, END = "<!-- audit-proofs:start -->", "<!-- audit-proofs:end -->"
TARGET_MS = 20.0


def generate(leaves: int) -> dict:
    """Fill the node table with the complete tree of `leaves` leaves; seconds per step."""
    from django.db import connection

    from accounts.models import AuditTreeNode

    table = connection.ops.quote_name(AuditTreeNode._meta.db_table)
    timings = {}
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
        cursor.execute(f"ALTER TABLE {table} SET UNLOGGED")
        started = time.perf_counter()
        cursor.execute(
            f"INSERT INTO {table} (level, position, hash) "  # noqa: S608 - model table name
            "SELECT 0, i, sha256('\\x00'::bytea || convert_to('event ' || i, 'UTF8')) "
            "FROM generate_series(0, %s) AS i",
            [leaves - 1],
        )
        timings["leaves_seconds"] = round(time.perf_counter() - started, 1)
        level, width = 0, leaves
        started = time.perf_counter()
        while width > 1:
            # Each complete pair of level `level` makes one node of the level above.
            cursor.execute(
                f"INSERT INTO {table} (level, position, hash) "  # noqa: S608
                "SELECT %s, position / 2, sha256('\\x01'::bytea || hash || next_hash) FROM "
                f"(SELECT position, hash, lead(hash) OVER (ORDER BY position) AS next_hash "
                f"FROM {table} WHERE level = %s) AS pairs "
                "WHERE position %% 2 = 0 AND next_hash IS NOT NULL",
                [level + 1, level],
            )
            level, width = level + 1, width // 2
        timings["inner_seconds"] = round(time.perf_counter() - started, 1)
        cursor.execute(f"ANALYZE {table}")
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608
        timings["nodes"] = cursor.fetchone()[0]
    return timings


def measure(leaves: int, samples: int) -> dict:
    """Audit path and root for random leaves: latency percentiles in ms, every path checked."""
    from django.db import connection
    from karmo_verify import root_from_inclusion

    from accounts import audit_tree

    picks = random.Random(12).sample(range(leaves), samples)
    proof_ms: list[float] = []
    both_ms: list[float] = []
    server_ms: list[float] = []
    round_trip_ms: list[float] = []
    for index in picks:
        started = time.perf_counter()
        alone = audit_tree.inclusion_proof(index, leaves)
        middle = time.perf_counter()
        path, root = audit_tree.inclusion_proof_and_root(index, leaves)
        ended = time.perf_counter()
        proof_ms.append((middle - started) * 1000)
        both_ms.append((ended - started) * 1000)
        leaf = audit_tree._fetch([(0, index)])[(0, index)]
        if alone != path or root_from_inclusion(index, leaves, leaf, path) != root:
            raise SystemExit(f"the proof of leaf {index} does not lead to the root")
        server_ms.append(_server_ms(index, leaves))
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        round_trip_ms.append((time.perf_counter() - started) * 1000)
    return {
        "audit_path": _percentiles(proof_ms),
        "path_and_root": _percentiles(both_ms),
        "path_and_root_server": _percentiles(server_ms),
        "select_1": _percentiles(round_trip_ms),
    }


def _server_ms(index: int, leaves: int) -> float:
    """The server's own planning and execution time of the path-and-root query."""
    from django.db import connection

    from accounts import audit_tree
    from accounts.merkle import inclusion_ranges, perfect_nodes

    ranges = [*inclusion_ranges(index, leaves), (0, leaves)]
    wanted = sorted({node for r in ranges for node in perfect_nodes(*r)})
    sql, params = audit_tree.fetch_sql(wanted)
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    plan = plan[0] if isinstance(plan, list) else json.loads(plan)[0]
    return plan["Planning Time"] + plan["Execution Time"]


def _percentiles(timings: list[float]) -> dict:
    timings = sorted(timings)
    return {
        "p50_ms": round(timings[len(timings) // 2], 3),
        "p95_ms": round(timings[int(len(timings) * 0.95)], 3),
        "max_ms": round(timings[-1], 3),
    }


def bench(args: argparse.Namespace) -> dict:
    """Create the scratch database, build the tree, measure, drop it."""
    scratch_postgres(args.postgres_url, create=True)
    os.environ.update(
        {
            "DATABASE_URL": args.postgres_url,
            "DJANGO_SETTINGS_MODULE": "karmo_admin.settings",
            "KARMO_LOG_LEVEL": "WARNING",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    try:
        call_command("migrate", verbosity=0, interactive=False)
        load_before = round(os.getloadavg()[0], 2)
        run: dict = {"leaves": args.leaves, "samples": args.samples}
        run["generate"] = generate(args.leaves)
        print(f"generated: {run['generate']}", flush=True)
        run["proofs"] = measure(args.leaves, args.samples)
        print(f"proofs: {run['proofs']}", flush=True)
        with connection.cursor() as cursor:
            cursor.execute("SELECT version()")
            run["server"] = cursor.fetchone()[0].split(" on ")[0]
        run["load_average_1m"] = [load_before, round(os.getloadavg()[0], 2)]
    finally:
        connection.close()
        scratch_postgres(args.postgres_url, create=False)
    run["measured_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    run["machine"] = machine()
    return run


def write_report(run: dict) -> None:
    """The audit-proofs section of BENCHMARKS.md."""
    path, both, made = run["proofs"]["audit_path"], run["proofs"]["path_and_root"], run["generate"]
    server, ping = run["proofs"]["path_and_root_server"], run["proofs"]["select_1"]
    verdict = "met" if both["p95_ms"] < TARGET_MS else "missed"
    server_verdict = "met" if server["p95_ms"] < TARGET_MS else "missed"
    section = f"""{START}
## Audit log: inclusion proofs at {run["leaves"]:,} events (PostgreSQL)

`benchmarks/audit_proof_bench.py` on a scratch PostgreSQL database: the Merkle tree of
{run["leaves"]:,} leaves ({made["nodes"]:,} stored nodes) generated inside the server with
RFC 6962 hashing (leaves {made["leaves_seconds"]} s, inner levels {made["inner_seconds"]} s;
the node table unlogged while filled; no event rows, which a proof does not read). For
{run["samples"]:,} random leaves: the audit path alone (`audit_tree.inclusion_proof`, one query)
and path and root as the proof endpoint reads them (`inclusion_proof_and_root`, one query);
each path is checked against the root with the offline verifier's `root_from_inclusion`.
"Server" is the path-and-root query's planning plus execution time by `EXPLAIN ANALYZE`; a
`SELECT 1` round trip is timed alongside, as the machine's floor for any query. Target: under
{TARGET_MS:.0f} ms p95 ({verdict} by wall time, {server_verdict} by server time).

| tree size | audit path p50 / p95 / max | path and root p50 / p95 / max \
| server p50 / p95 / max | SELECT 1 p50 / p95 | PostgreSQL | measured |
|---|---|---|---|---|---|---|
| {run["leaves"]:,} | {path["p50_ms"]} / {path["p95_ms"]} / {path["max_ms"]} ms \
| {both["p50_ms"]} / {both["p95_ms"]} / {both["max_ms"]} ms \
| {server["p50_ms"]} / {server["p95_ms"]} / {server["max_ms"]} ms \
| {ping["p50_ms"]} / {ping["p95_ms"]} ms | {run["server"]} \
| {run["measured_at"]}, load {run["load_average_1m"][0]} → {run["load_average_1m"][1]} |

Machine: {run["machine"]}, shared with other work (1-minute load average shown).
Re-run with `.venv/bin/python benchmarks/audit_proof_bench.py`.
{END}"""
    write_section(REPORT, START, END, section)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=10_000_000)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument(
        "--postgres-url", default="postgres://postgres@127.0.0.1:5432/karmo_audit_proof_bench"
    )
    parser.add_argument("--no-report", action="store_true", help="Print only; write nothing.")
    args = parser.parse_args()
    run = bench(args)
    if args.no_report:
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "audit-proofs-postgres.json"
    out.write_text(json.dumps(run, indent=2, sort_keys=True) + "\n")
    write_report(run)
    print(f"wrote {out.relative_to(ROOT)} and the audit-proofs section of {REPORT.name}")


if __name__ == "__main__":
    main()

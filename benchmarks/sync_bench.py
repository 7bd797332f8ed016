"""Sync a generated dataset from an emulator, then re-sync it unchanged; print and save figures.

Usage: .venv/bin/python benchmarks/sync_bench.py --flavor workos|stytch|zitadel
       --database sqlite|postgres [--memberships 250000] [--postgres-url URL]

The emulator runs as `manage.py run_emulator FLAVOR` in a child process on a loopback port,
and the app is pointed at it by configuration only, as a user would point it at the real
provider. The mirror goes to a scratch database: a temp SQLite file, or the PostgreSQL database
`karmo_sync_bench` (created, then dropped). Organizations and users follow the issue's
proportions (2,000 : 100,000 : 250,000 memberships). Results go to
benchmarks/results/sync-FLAVOR-DATABASE.json (-N appended for another size) and the sync
section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import process_cpu_seconds

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
SCRATCH_DB = "karmo_sync_bench"
DEFAULT_MEMBERSHIPS = 250_000
START, END = "<!-- sync:start -->", "<!-- sync:end -->"


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_emulator(flavor: str, memberships: int) -> tuple[subprocess.Popen, dict[str, str]]:
    """Serve the flavor's emulator in a child process; returns it and the settings it printed."""
    child = subprocess.Popen(  # noqa: S603 - our own manage.py with fixed arguments
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "run_emulator",
            flavor,
            "--port",
            str(free_port()),
            "--orgs",
            str(max(1, memberships // 125)),
            "--users",
            str(max(1, memberships * 2 // 5)),
            "--memberships",
            str(memberships),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    values: dict[str, str] = {}
    for line in child.stdout:
        print(f"  emulator: {line.rstrip()}", flush=True)
        match = re.match(r"^\s+([A-Z_]+)=(\S+)$", line)
        if match:
            values[match[1]] = match[2]
        if line.startswith("Press Ctrl-C"):
            return child, values
    raise SystemExit(f"the {flavor} emulator stopped before serving (exit {child.wait()})")


def stop_emulator(child: subprocess.Popen) -> None:
    child.send_signal(signal.SIGINT)
    try:
        child.wait(timeout=30)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def postgres_scratch(base_url: str, action: str) -> str:
    """Create (or drop) the scratch database on base_url's server; returns its URL."""
    import psycopg

    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {SCRATCH_DB} WITH (FORCE)")
        if action == "create":
            conn.execute(f"CREATE DATABASE {SCRATCH_DB}")
    return base_url.rsplit("/", 1)[0] + f"/{SCRATCH_DB}"


def reset_peak_memory() -> None:
    """Start a new high-water mark for this process's resident memory (Linux)."""
    Path("/proc/self/clear_refs").write_text("5")


def peak_memory_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def run_syncs(emulator_pid: int) -> dict[str, Any]:
    """Migrate the scratch database, sync twice, verify the audit chain; return the figures."""
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from accounts.audit import verify_chain
    from accounts.context import audit_context
    from accounts.models import AuditEvent, Channel
    from accounts.sync import RequestCounter, run_sync
    from providers.registry import get_provider

    call_command("migrate", verbosity=0, interactive=False)
    figures: dict[str, Any] = {
        "database_version": _server_version(connection),
        "batch_size": settings.KARMO_SYNC_BATCH_SIZE,
    }
    for label in ("first", "repeat"):
        provider = get_provider()
        counter = RequestCounter(provider)
        events_before = AuditEvent.objects.count()
        load_before = load_average()
        reset_peak_memory()
        emulator_cpu = process_cpu_seconds(emulator_pid)
        started, cpu_started = time.perf_counter(), time.process_time()
        with audit_context(via=Channel.COMMAND):
            run = run_sync(provider=provider)
        seconds = time.perf_counter() - started
        figures[label] = {
            "state": str(run.state),
            "seconds": round(seconds, 2),
            "cpu_seconds": round(time.process_time() - cpu_started, 2),
            "emulator_cpu_seconds": round(process_cpu_seconds(emulator_pid) - emulator_cpu, 2),
            "records": run.seen,
            "records_per_second": round(run.seen / seconds),
            "created": run.created,
            "updated": run.updated,
            "removed": run.removed,
            "unchanged": run.unchanged,
            "provider_requests": counter.count,
            "audit_events_written": AuditEvent.objects.count() - events_before,
            "peak_rss_mb": peak_memory_mb(),
            "load_average_1m": [load_before, load_average()],
        }
        provider.close()
        print(f"{label}: {json.dumps(figures[label])}", flush=True)
    started = time.perf_counter()
    verification = verify_chain()
    figures["audit_chain"] = {
        "ok": verification.ok,
        "events": verification.count,
        "verify_seconds": round(time.perf_counter() - started, 2),
    }
    print(f"audit chain: {figures['audit_chain']}", flush=True)
    return figures


def _server_version(connection: Any) -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT sqlite_version()")
            return f"SQLite {cursor.fetchone()[0]}"
        cursor.execute("SHOW server_version")
        return f"PostgreSQL {cursor.fetchone()[0].split()[0]}"


def bench(flavor: str, database: str, memberships: int, postgres_url: str) -> dict[str, Any]:
    """One flavour × database cell."""
    scratch_dir = tempfile.mkdtemp(prefix="karmo-sync-bench-")
    child, values = start_emulator(flavor, memberships)
    try:
        if database == "postgres":
            database_url = postgres_scratch(postgres_url, "create")
        else:
            database_url = f"sqlite:///{scratch_dir}/bench.sqlite3"
        os.environ.update(values)
        os.environ.update(
            {
                "DATABASE_URL": database_url,
                "KARMO_PROVIDER": flavor,
                "KARMO_DATA_DIR": scratch_dir,
                "KARMO_PROVIDER_TIMEOUT": "60",
                "DJANGO_SETTINGS_MODULE": "karmo_admin.settings",
            }
        )
        figures = run_syncs(child.pid)
    finally:
        stop_emulator(child)
        if database == "postgres":
            from django.db import connections

            connections.close_all()
            postgres_scratch(postgres_url, "drop")
        shutil.rmtree(scratch_dir, ignore_errors=True)
    return {
        "flavor": flavor,
        "database": database,
        "memberships": memberships,
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} CPUs, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}",
        **figures,
    }


def markdown() -> str:
    """The BENCHMARKS.md section from every saved sync result."""
    cells = sorted(
        (json.loads(path.read_text()) for path in RESULTS.glob("sync-*-*.json")),
        key=lambda cell: (cell["flavor"], cell["database"], -cell["memberships"]),
    )
    lines = [
        START,
        "## Sync from the provider",
        "",
        "`benchmarks/sync_bench.py` serves a generated dataset with `manage.py run_emulator`",
        "in a child process on 127.0.0.1 and points the app at it by configuration (as at a real",
        "provider), then runs a first sync into an empty scratch database and a re-sync with",
        "nothing changed. Records are organizations, users, memberships and roles together",
        "(Stytch has no project-wide users: one user per member, so 250,000 users there); every",
        "record the first sync creates is one audit event with its values, the re-sync writes no",
        "mirror row and only the run's two events, and the audit chain verifies afterwards. CPU",
        "is the sync process's (with SQLite's own work) and the emulator's. Peak memory is the",
        "sync process's resident high-water mark during that sync (on SQLite it includes the",
        "64 MB page cache sync asks for, filled only on a large dataset). Target: first sync of",
        "250,000 memberships under 60 s on SQLite, memory flat.",
        "",
        "| flavour | database | batch | memberships / records | first sync s | records/s "
        "| CPU s sync / emulator | requests | peak MB | re-sync s | records/s | peak MB "
        "| audit events | chain | measured | load (1 min) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for cell in cells:
        first, repeat = cell["first"], cell["repeat"]
        loads = [*first["load_average_1m"], *repeat["load_average_1m"]]
        lines.append(
            f"| {cell['flavor']} | {cell['database_version']} | {cell['batch_size']:,} "
            f"| {cell['memberships']:,} / "
            f"{first['records']:,} | {first['seconds']} | {first['records_per_second']:,} | "
            f"{first['cpu_seconds']} / {first.get('emulator_cpu_seconds', '–')} | "
            f"{first['provider_requests']:,} | {first['peak_rss_mb']} | {repeat['seconds']} | "
            f"{repeat['records_per_second']:,} | {repeat['peak_rss_mb']} | "
            f"{first['audit_events_written']:,} / {repeat['audit_events_written']} | "
            f"{'verified' if cell['audit_chain']['ok'] else 'BROKEN'} | {cell['measured_at']} | "
            f"{min(loads)}–{max(loads)} |"
        )
    machines = sorted({cell["machine"] for cell in cells})
    lines += [
        "",
        f"Machine: {'; '.join(machines)}; shared with other jobs while measuring (see the load",
        "averages: above 2 the two cores were oversubscribed, and times stretch accordingly).",
        "Batch 5,000 (`KARMO_SYNC_BATCH_SIZE`, the default): against 1,000 it cut the first",
        "sync's CPU by about a quarter on SQLite (fewer commits rewriting the same index pages).",
        "The re-sync is bound by reading the provider (WorkOS pages hold 100 records, and the",
        "emulator answers each request on a new connection); sync reads the next pages in a",
        "thread while it writes the current batch. Before this sync used raw executemany/COPY and",
        "that read-ahead, WorkOS on SQLite took 198 s (first) and 34.5 s (re-sync) at load 4.",
        "Re-run one cell with `.venv/bin/python benchmarks/sync_bench.py --flavor workos",
        "--database sqlite` (`--database postgres` needs a server on 127.0.0.1:5432;",
        "`--memberships N` for another size).",
        END,
    ]
    return "\n".join(lines)


def write_section() -> None:
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    section = markdown()
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flavor", choices=("workos", "stytch", "zitadel"), default="workos")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--memberships", type=int, default=DEFAULT_MEMBERSHIPS)
    parser.add_argument(
        "--postgres-url",
        default="postgres://postgres@127.0.0.1:5432/postgres",
        help="a server to create the scratch database on",
    )
    parser.add_argument(
        "--batch-size", type=int, help="KARMO_SYNC_BATCH_SIZE for the run (default: settings)"
    )
    parser.add_argument("--no-save", action="store_true", help="print only")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.batch_size:
        os.environ["KARMO_SYNC_BATCH_SIZE"] = str(args.batch_size)
    cell = bench(args.flavor, args.database, args.memberships, args.postgres_url)
    if args.no_save:
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    size = "" if args.memberships == DEFAULT_MEMBERSHIPS else f"-{args.memberships}"
    out = RESULTS / f"sync-{args.flavor}-{args.database}{size}.json"
    out.write_text(json.dumps(cell, indent=2, sort_keys=True) + "\n")
    write_section()
    print(f"wrote {out.relative_to(ROOT)} and the sync section of BENCHMARKS.md")


if __name__ == "__main__":
    main()

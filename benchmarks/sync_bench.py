"""Sync N emulated memberships, then re-sync them unchanged; print and save the figures.

Usage: .venv/bin/python benchmarks/sync_bench.py [MEMBERSHIPS] [--database-url URL]

The WorkOS emulator runs in a child process on a loopback port; the mirror goes to a fresh
SQLite file unless --database-url names a scratch database (it is migrated, and the bench's
rows are written under the provider key "bench"). Results: benchmarks/results/sync.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def dataset(memberships: int):  # noqa: ANN201 - imported lazily with the emulator
    """seed.generated_dataset in the issue's proportions (2k orgs : 100k users : 250k)."""
    from providers.emulators.seed import generated_dataset, paused_gc

    with paused_gc():
        return generated_dataset(
            max(2, memberships // 125), max(1, memberships * 2 // 5), memberships
        )


def serve_emulator(memberships: int) -> None:
    """Child process: serve the WorkOS emulator with the generated dataset until stdin closes."""
    from providers.emulators.server import serve_in_thread
    from providers.emulators.workos import EMULATOR_API_KEY, WorkOSEmulator

    app = WorkOSEmulator(api_key=EMULATOR_API_KEY)
    app.reset(dataset(memberships))
    running = serve_in_thread(app)
    print(running.url, flush=True)
    sys.stdin.read()
    running.stop()


def bench(memberships: int, database_url: str | None) -> dict:
    """Run the two syncs against a child-process emulator and return the figures."""
    scratch = None
    if not database_url:
        scratch = tempfile.mkdtemp(prefix="karmo-sync-bench-")
        database_url = f"sqlite:///{scratch}/bench.sqlite3"
    os.environ["DATABASE_URL"] = database_url
    os.environ["KARMO_PROVIDER"] = "bench"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "karmo_admin.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from accounts.context import audit_context
    from accounts.models import AuditEvent, Channel
    from accounts.sync import RequestCounter, run_sync
    from providers.emulators.workos import EMULATOR_API_KEY
    from providers.http import RetryPolicy
    from providers.workos import WorkOSProvider

    call_command("migrate", verbosity=0, interactive=False)
    child = subprocess.Popen(  # noqa: S603 - this script, with fixed arguments
        [sys.executable, __file__, str(memberships), "--serve-emulator"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = child.stdout.readline().strip()
        figures: dict = {
            "memberships": memberships,
            "database": connection.vendor,
            "batch_size": None,
        }
        for label in ("first", "repeat"):
            provider = WorkOSProvider(
                api_key=EMULATOR_API_KEY, base_url=url, timeout=60, retry=RetryPolicy()
            )
            counter = RequestCounter(provider)
            events_before = AuditEvent.objects.count()
            started, cpu_started = time.perf_counter(), time.process_time()
            with audit_context(via=Channel.COMMAND):
                run = run_sync(provider=provider)
            seconds = time.perf_counter() - started
            cpu_seconds = time.process_time() - cpu_started
            provider.close()
            figures[label] = {
                "state": str(run.state),
                "seconds": round(seconds, 2),
                "cpu_seconds_sync_process": round(cpu_seconds, 2),
                "load_average_1m": round(os.getloadavg()[0], 2),
                "records": run.seen,
                "records_per_second": round(run.seen / seconds),
                "created": run.created,
                "updated": run.updated,
                "removed": run.removed,
                "unchanged": run.unchanged,
                "provider_requests": counter.count,
                "audit_events_written": AuditEvent.objects.count() - events_before,
            }
            print(f"{label}: {figures[label]}", flush=True)
        from django.conf import settings

        figures["batch_size"] = settings.KARMO_SYNC_BATCH_SIZE
        figures["peak_rss_mb_bench_process"] = round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
        )
    finally:
        child.stdin.close()
        child.wait(timeout=30)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("memberships", nargs="?", type=int, default=20_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--serve-emulator", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_emulator:
        serve_emulator(args.memberships)
        return
    figures = bench(args.memberships, args.database_url)
    out = ROOT / "benchmarks" / "results" / "sync.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    results = json.loads(out.read_text()) if out.exists() else {}
    results[f"{figures['database']}-{args.memberships}"] = figures
    out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

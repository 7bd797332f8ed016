"""Sync at real-world speed: WorkOS with 50 ms latency and its published rate limit.

Usage: .venv/bin/python benchmarks/sync_realtime.py [--scale 0.1] [--changes 1000]
       [--fresh 200] [--poll-seconds 30] [--no-save]

The emulator runs as `manage.py run_emulator workos --latency 50ms --rate-limit published` in a
child process on 127.0.0.1:21000 (the issue's dataset times --scale). Measured, in order:

1. a full sync into an empty scratch SQLite database and a re-sync with nothing changed,
   next to the floor max(minimum requests / published rate, longest cursor chain x latency)
   and the minimum request count the API allows;
2. the same reading done by a plain script on WorkOS's official SDK (auto-pagination, one
   request at a time) with bulk inserts into SQLite, what a developer writes in an afternoon;
3. an incremental sync with nothing changed, then with --changes membership changes;
4. freshness: --fresh changes at the emulator, each timed until the mirror shows it, through
   webhooks (Karmo served on 127.0.0.1:21002) and then through polling alone.

Results go to benchmarks/results/sync-realtime-workos.json and BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import machine, write_section  # noqa: E402

RESULT = ROOT / "benchmarks" / "results" / "sync-realtime-workos.json"
START, END = "<!-- sync-realtime:start -->", "<!-- sync-realtime:end -->"
EMULATOR_PORT, KARMO_PORT = 21000, 21002
LATENCY = 0.05
FULL = {"orgs": 2_000, "users": 100_000, "memberships": 250_000}
KEY = "sk_test_karmo_emulator"
SECRET = "wh_bench_secret"


def start_emulator(sizes: dict[str, int]) -> subprocess.Popen:
    args = [sys.executable, str(ROOT / "manage.py"), "run_emulator", "workos"]
    args += ["--port", str(EMULATOR_PORT), "--latency", "50ms", "--rate-limit", "published"]
    args += [f"--{name}={value}" for name, value in sizes.items()]
    child = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, cwd=ROOT)  # noqa: S603
    for line in child.stdout:
        print(f"  emulator: {line.rstrip()}", flush=True)
        if line.startswith("Press Ctrl-C"):
            return child
    raise SystemExit(f"the emulator stopped before serving (exit {child.wait()})")


def minimum_requests(sizes: dict[str, int]) -> tuple[int, int]:
    """(fewest requests that read everything, the longest cursor chain) for WorkOS pages of 100.

    Organizations, users, each organization's memberships (one page even when empty), the
    environment roles once and each organization's roles (one unpaginated request each).
    """
    from providers.emulators.seed import generated_dataset

    data = generated_dataset(sizes["orgs"], sizes["users"], sizes["memberships"])
    per_org = [0] * len(data.organizations)
    for seat in data.memberships:
        per_org[seat.organization] += 1
    org_pages, user_pages = math.ceil(len(per_org) / 100), math.ceil(len(data.people) / 100)
    membership_pages = sum(max(1, math.ceil(count / 100)) for count in per_org)
    # The user list read from both ends at once is the longest chain.
    chain = math.ceil(user_pages / 2)
    return org_pages + user_pages + membership_pages + 1 + len(per_org), chain


def emulator(path: str, method: str = "GET", body: Any = None) -> Any:
    import httpx

    headers = {"Authorization": f"Bearer {KEY}"}
    url = f"http://127.0.0.1:{EMULATOR_PORT}{path}"
    answer = httpx.request(method, url, json=body, headers=headers, timeout=30)
    return answer.json() if answer.content else None


def stats() -> dict[str, Any]:
    return emulator("/__emulator__/stats")


def sdk_script(db_path: str) -> dict[str, Any]:
    """What a developer writes with WorkOS's SDK: auto-pagination, bulk inserts, one at a time."""
    import workos

    client = workos.WorkOSClient(
        api_key=KEY, client_id="client_bench", base_url=f"http://127.0.0.1:{EMULATOR_PORT}"
    )
    db = sqlite3.connect(db_path)
    db.executescript(
        "CREATE TABLE orgs (id TEXT PRIMARY KEY, name TEXT);"
        "CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT, first TEXT, last TEXT);"
        "CREATE TABLE seats (id TEXT PRIMARY KEY, org TEXT, user TEXT, status TEXT, roles TEXT);"
        "CREATE TABLE roles (id TEXT, org TEXT, slug TEXT, name TEXT);"
    )
    before = stats()["requests"]
    started = time.perf_counter()
    orgs = list(client.organizations.list_organizations(limit=100).auto_paging_iter())
    db.executemany("INSERT OR REPLACE INTO orgs VALUES (?, ?)", [(o.id, o.name) for o in orgs])
    users = client.user_management.list_users(limit=100).auto_paging_iter()
    db.executemany(
        "INSERT OR REPLACE INTO users VALUES (?, ?, ?, ?)",
        ((u.id, u.email, u.first_name, u.last_name) for u in users),
    )
    for org in orgs:
        seats = client.organization_membership.list_organization_memberships(
            organization_id=org.id, statuses=["active", "inactive", "pending"], limit=100
        ).auto_paging_iter()
        db.executemany(
            "INSERT OR REPLACE INTO seats VALUES (?, ?, ?, ?, ?)",
            (
                (
                    s.id,
                    s.organization_id,
                    s.user_id,
                    s.status,
                    json.dumps([r.slug for r in s.roles or []]),
                )
                for s in seats
            ),
        )
        roles = client.authorization.list_organization_roles(org.id).data
        db.executemany(
            "INSERT INTO roles VALUES (?, ?, ?, ?)", [(r.id, org.id, r.slug, r.name) for r in roles]
        )
    db.commit()
    seconds = time.perf_counter() - started
    counts = {
        table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: S608
        for table in ("orgs", "users", "seats")
    }
    db.close()
    client.close()
    return {"seconds": round(seconds, 2), "requests": stats()["requests"] - before, **counts}


def serve_karmo() -> Any:
    """Karmo's WSGI app on 127.0.0.1:KARMO_PORT in a thread (the webhooks' receiver)."""
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from django.core.wsgi import get_wsgi_application

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args: Any) -> None:
            return

    server = make_server("127.0.0.1", KARMO_PORT, get_wsgi_application(), handler_class=Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def memberships_to_toggle(count: int) -> list[tuple[str, str]]:
    """(external id, status) of mirrored active or inactive memberships, spread over orgs."""
    from accounts.models import OrganizationMembership

    rows = OrganizationMembership.objects.filter(status__in=["active", "inactive"]).order_by("pk")
    step = max(1, rows.count() // count)
    return list(rows.values_list("external_id", "status")[::step][:count])


def toggle(external_id: str, status: str) -> str:
    verb, target = ("deactivate", "inactive") if status == "active" else ("reactivate", "active")
    emulator(f"/user_management/organization_memberships/{external_id}/{verb}", "PUT")
    return target


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)], 2)


def freshness_by_webhook(count: int) -> dict[str, Any]:
    from accounts.models import OrganizationMembership

    emulator(
        "/__emulator__/webhooks",
        "POST",
        {"url": f"http://127.0.0.1:{KARMO_PORT}/webhooks/workos/", "secret": SECRET},
    )
    delays = []
    for external_id, status in memberships_to_toggle(count):
        started = time.perf_counter()
        target = toggle(external_id, status)
        row = OrganizationMembership.objects.filter(external_id=external_id)
        while not row.filter(status=target).exists():
            if time.perf_counter() - started > 60:
                break
            time.sleep(0.01)
        delays.append(time.perf_counter() - started)
    answers = emulator("/__emulator__/webhooks")["answers"]
    emulator("/__emulator__/webhooks", "POST", {"url": "", "secret": ""})
    return {
        "changes": count,
        "p50_seconds": percentile(delays, 0.5),
        "p95_seconds": percentile(delays, 0.95),
        "max_seconds": round(max(delays), 2),
        "webhook_answers": {str(code): answers.count(code) for code in sorted(set(answers))},
    }


def freshness_by_polling(count: int, poll_seconds: float, spread: float) -> dict[str, Any]:
    """`count` changes spread over `spread` seconds while a poller runs every `poll_seconds`."""
    from accounts.models import OrganizationMembership
    from accounts.sync.feed import run_incremental
    from providers.registry import get_provider

    pending: dict[str, tuple[str, float]] = {}
    seen: list[float] = []
    lock = threading.Lock()
    stop = threading.Event()

    def poll() -> None:
        provider = get_provider()
        while not stop.is_set():
            run_incremental(provider=provider, record_empty=False)
            now = time.perf_counter()
            with lock:
                for external_id, (target, at) in list(pending.items()):
                    if OrganizationMembership.objects.filter(
                        external_id=external_id, status=target
                    ).exists():
                        seen.append(now - at)
                        del pending[external_id]
            stop.wait(poll_seconds)
        provider.close()

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    for external_id, status in memberships_to_toggle(count):
        target = toggle(external_id, status)
        with lock:
            pending[external_id] = (target, time.perf_counter())
        time.sleep(spread / count)
    deadline = time.perf_counter() + 3 * poll_seconds
    while pending and time.perf_counter() < deadline:
        time.sleep(0.2)
    stop.set()
    poller.join(timeout=120)
    return {
        "changes": count,
        "poll_seconds": poll_seconds,
        "p50_seconds": percentile(seen, 0.5),
        "p95_seconds": percentile(seen, 0.95),
        "max_seconds": round(max(seen), 2),
        "not_seen": len(pending),
    }


def run(args: argparse.Namespace, scratch: str) -> dict[str, Any]:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from accounts.context import audit_context
    from accounts.models import Channel
    from accounts.sync import run_sync
    from accounts.sync.feed import run_incremental
    from providers.budget import published_rate
    from providers.registry import get_provider

    call_command("migrate", verbosity=0, interactive=False)
    sizes = {name: max(1, int(value * args.scale)) for name, value in FULL.items()}
    minimum, chain = minimum_requests(sizes)
    rate = published_rate("workos")
    floor = max(minimum / rate, chain * LATENCY)
    figures: dict[str, Any] = {
        "sizes": sizes,
        "latency_ms": LATENCY * 1000,
        "published_rate_per_s": rate,
        "budget_per_s": rate * settings.KARMO_PROVIDER_RATE_FRACTION,
        "concurrency": settings.KARMO_SYNC_CONCURRENCY,
        "minimum_requests": minimum,
        "longest_chain_requests": chain,
        "floor_seconds": round(floor, 2),
    }
    print(json.dumps(figures), flush=True)
    with audit_context(via=Channel.COMMAND):
        for label in ("full_first", "full_repeat"):
            emulator("/__emulator__/stats", "DELETE")
            provider = get_provider()
            load = os.getloadavg()[0]
            started = time.perf_counter()
            sync = run_sync(provider=provider)
            seconds = time.perf_counter() - started
            provider.close()
            counts = stats()
            figures[label] = {
                "state": str(sync.state),
                "seconds": round(seconds, 2),
                "requests": sync.requests,
                "records": sync.seen,
                "x_floor": round(seconds / floor, 2),
                "x_minimum_requests": round(sync.requests / minimum, 3),
                "rate_limited": counts["rate_limited"],
                "busiest_second": counts["max_per_second"],
                "most_in_flight": counts["max_in_flight"],
                "load_average_1m": round(load, 2),
            }
            print(label, json.dumps(figures[label]), flush=True)
        figures["sdk_script"] = sdk_script(os.path.join(scratch, "sdk.sqlite3"))
        figures["sdk_script"]["x_karmo"] = round(
            figures["sdk_script"]["seconds"] / figures["full_repeat"]["seconds"], 2
        )
        print("sdk", json.dumps(figures["sdk_script"]), flush=True)

        provider = get_provider()
        timings = []
        for _ in range(5):
            before = stats()["requests"]
            started = time.perf_counter()
            nothing = run_incremental(provider=provider, record_empty=False)
            timings.append((time.perf_counter() - started, stats()["requests"] - before, nothing))
        figures["incremental_nothing_changed"] = {
            "seconds_median": round(statistics.median(t[0] for t in timings), 3),
            "requests": max(t[1] for t in timings),
            "runs_recorded": sum(1 for t in timings if t[2] is not None),
        }
        print("nothing", json.dumps(figures["incremental_nothing_changed"]), flush=True)
        for external_id, status in memberships_to_toggle(args.changes):
            toggle(external_id, status)
        started = time.perf_counter()
        applied = run_incremental(provider=provider)
        figures["incremental_changes"] = {
            "changes": args.changes,
            "seconds": round(time.perf_counter() - started, 2),
            "requests": applied.requests,
            "updated": applied.updated,
            "mode": applied.mode,
        }
        provider.close()
        print("changes", json.dumps(figures["incremental_changes"]), flush=True)
        server = serve_karmo()
        try:
            figures["freshness_webhook"] = freshness_by_webhook(args.fresh)
            print("webhook", json.dumps(figures["freshness_webhook"]), flush=True)
        finally:
            server.shutdown()
        figures["freshness_polling"] = freshness_by_polling(
            args.fresh, args.poll_seconds, spread=2 * args.poll_seconds
        )
        print("polling", json.dumps(figures["freshness_polling"]), flush=True)
    return figures


def markdown(cell: dict[str, Any]) -> str:
    first, repeat, sdk = cell["full_first"], cell["full_repeat"], cell["sdk_script"]
    nothing, changes = cell["incremental_nothing_changed"], cell["incremental_changes"]
    hook, poll = cell["freshness_webhook"], cell["freshness_polling"]
    sizes = cell["sizes"]
    return "\n".join(
        [
            START,
            "## Sync at real-world speed (latency and rate limit on)",
            "",
            "`benchmarks/sync_realtime.py` serves WorkOS's emulator with 50 ms latency (+ up to",
            "10 ms jitter) and WorkOS's published limit (6,000 requests per 60 s per key, 429 with",
            f"Retry-After beyond it), {sizes['orgs']:,} organizations / {sizes['users']:,} users /",
            f"{sizes['memberships']:,} memberships (the issue's dataset x {cell['scale']}), and",
            "syncs into a scratch SQLite database. Floor = max(minimum requests / 100 per s,",
            "longest cursor chain x 50 ms); Karmo spends 80% of the limit, so 1.25x the floor is",
            "the best it can do by design.",
            "",
            "| run | seconds | floor s | x floor | requests | minimum | x minimum | 429s |",
            "|---|---|---|---|---|---|---|---|",
            f"| full sync, empty mirror | {first['seconds']} | {cell['floor_seconds']} | "
            f"{first['x_floor']} | {first['requests']:,} | {cell['minimum_requests']:,} | "
            f"{first['x_minimum_requests']} | {first['rate_limited']} |",
            f"| full re-sync, nothing changed | {repeat['seconds']} | {cell['floor_seconds']} | "
            f"{repeat['x_floor']} | {repeat['requests']:,} | {cell['minimum_requests']:,} | "
            f"{repeat['x_minimum_requests']} | {repeat['rate_limited']} |",
            f"| official SDK script (auto-pagination, bulk inserts) | {sdk['seconds']} | "
            f"{cell['floor_seconds']} | {round(sdk['seconds'] / cell['floor_seconds'], 2)} | "
            f"{sdk['requests']:,} | {cell['minimum_requests']:,} | "
            f"{round(sdk['requests'] / cell['minimum_requests'], 3)} | – |",
            "",
            f"- The SDK script takes {sdk['x_karmo']}x Karmo's re-sync time.",
            f"- Incremental sync, nothing changed: {nothing['requests']} request, "
            f"{nothing['seconds_median']} s (median of 5), no run recorded.",
            f"- {changes['changes']:,} membership changes at the provider applied by one "
            f"incremental sync in {changes['seconds']} s ({changes['requests']} requests, "
            f"{changes['updated']} rows updated).",
            f"- Freshness through webhooks ({hook['changes']} changes, each timed from the "
            f"provider's answer until the mirror shows it): p50 {hook['p50_seconds']} s, "
            f"p95 {hook['p95_seconds']} s, max {hook['max_seconds']} s.",
            f"- Freshness through polling alone (every {poll['poll_seconds']:g} s, "
            f"{poll['changes']} changes spread over two intervals): p50 {poll['p50_seconds']} s, "
            f"p95 {poll['p95_seconds']} s, max {poll['max_seconds']} s.",
            "",
            f"Machine: {cell['machine']}, shared with other jobs (load average at the full syncs "
            f"{first['load_average_1m']} and {repeat['load_average_1m']}; above 2 the two cores "
            f"were oversubscribed and times stretch). Measured {cell['measured_at']}. Re-run with",
            "`.venv/bin/python benchmarks/sync_realtime.py --scale 0.1` (`--scale 1` for the",
            "issue's full size).",
            END,
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument("--fresh", type=int, default=200)
    parser.add_argument("--poll-seconds", type=float, default=30.0)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="karmo-realtime-")
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "karmo_admin.settings",
            "DATABASE_URL": f"sqlite:///{scratch}/mirror.sqlite3",
            "KARMO_DATA_DIR": scratch,
            "KARMO_PROVIDER": "workos",
            "WORKOS_API_KEY": KEY,
            "WORKOS_BASE_URL": f"http://127.0.0.1:{EMULATOR_PORT}",
            "WORKOS_WEBHOOK_SECRET": SECRET,
            "KARMO_PROVIDER_TIMEOUT": "60",
            "KARMO_LOG_LEVEL": "WARNING",
        }
    )
    sizes = {name: max(1, int(value * args.scale)) for name, value in FULL.items()}
    child = start_emulator(sizes)
    try:
        figures = run(args, scratch)
    finally:
        child.send_signal(signal.SIGINT)
        child.wait(timeout=30)
    cell = {
        "scale": args.scale,
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        **figures,
    }
    if args.no_save:
        return
    RESULT.write_text(json.dumps(cell, indent=2, sort_keys=True) + "\n")
    write_section(ROOT / "BENCHMARKS.md", START, END, markdown(cell))
    print(f"wrote {RESULT.relative_to(ROOT)} and BENCHMARKS.md")


if __name__ == "__main__":
    main()

"""`manage.py run_emulator workos|stytch|zitadel --port P`: serve one emulator standalone."""

from __future__ import annotations

import gc
import ipaddress
import math
import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from providers.emulators.realism import parse_latency, parse_rate_limit
from providers.emulators.seed import Dataset, demo_dataset, generated_dataset, paused_gc
from providers.emulators.server import EmulatorApp, serve_in_thread
from providers.emulators.state import Store
from providers.sandbox import SEEDED_KEY

FLAVOR_KEY = "karmo_emulator_flavor"
# Missing sizes follow the benchmark proportions (2,000 : 100,000 : 250,000).
PROPORTIONS = {"orgs": 2_000, "users": 100_000, "memberships": 250_000}


@dataclass(frozen=True)
class Flavor:
    """How to build one emulator and which settings point the app at it."""

    build: Callable[[Store], EmulatorApp]
    settings: Callable[[Any, str], dict[str, str]]


def _workos(store: Store) -> EmulatorApp:
    from providers.emulators.workos import EMULATOR_API_KEY, WorkOSEmulator

    return WorkOSEmulator(store=store, api_key=EMULATOR_API_KEY)


def _stytch(store: Store) -> EmulatorApp:
    from providers.emulators.stytch import StytchEmulator

    return StytchEmulator(store=store)


def _zitadel(store: Store) -> EmulatorApp:
    from providers.emulators.zitadel import ZitadelEmulator

    return ZitadelEmulator(store=store)


FLAVORS = {
    "workos": Flavor(
        _workos, lambda app, url: {"WORKOS_BASE_URL": url, "WORKOS_API_KEY": app.api_key}
    ),
    "stytch": Flavor(
        _stytch,
        lambda app, url: {
            "STYTCH_BASE_URL": url,
            "STYTCH_PROJECT_ID": app.project_id,
            "STYTCH_SECRET": app.secret,
        },
    ),
    "zitadel": Flavor(
        _zitadel,
        lambda app, url: {
            "ZITADEL_BASE_URL": url,
            "ZITADEL_TOKEN": app.token,
            "ZITADEL_PROJECT_ID": app.project_id,
        },
    ),
}


def loopback_host(host: str) -> str:
    """The IPv4 loopback address to bind; anything else is refused."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None or address.version != 4 or not address.is_loopback:
        raise CommandError(f"--host must be an IPv4 loopback address (127.x.x.x), not {host!r}")
    return host


def dataset_sizes(orgs: int | None, users: int | None, memberships: int | None) -> tuple[int, ...]:
    """Fill in the sizes not given, in proportion to the largest given one."""
    given = {"orgs": orgs, "users": users, "memberships": memberships}
    scale = max(v / PROPORTIONS[k] for k, v in given.items() if v is not None)
    # Rounding first keeps float noise (4.000000000000001) from adding one.
    size = {
        k: math.ceil(round(PROPORTIONS[k] * scale, 6)) if v is None else v for k, v in given.items()
    }
    size["orgs"] = max(size["orgs"], 1)
    if memberships is None:
        size["memberships"] = min(size["memberships"], size["users"] * size["orgs"])
    elif orgs is None and size["users"]:
        size["orgs"] = max(size["orgs"], math.ceil(memberships / size["users"]))
    return size["orgs"], size["users"], size["memberships"]


def non_negative(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError(value)
    return number


def positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = "Serve a provider emulator on loopback until interrupted, and print how to point at it."
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("flavor", choices=sorted(FLAVORS))
        parser.add_argument("--port", type=int, required=True, help="0 picks a free port")
        parser.add_argument("--host", default="127.0.0.1", help="a loopback address")
        parser.add_argument("--orgs", type=positive, help="generate this many organizations")
        parser.add_argument("--users", type=non_negative, help="generate this many users")
        parser.add_argument("--memberships", type=non_negative, help="and memberships")
        parser.add_argument("--seed", type=int, default=7, help="generated dataset's seed")
        parser.add_argument("--state", help="a Store file to keep state in (default: memory)")
        parser.add_argument(
            "--reload", action="store_true", help="reload the data even if --state holds it"
        )
        parser.add_argument(
            "--latency",
            default="0ms",
            help="added to every answer: 50ms (jitter a fifth) or 50ms+10ms",
        )
        parser.add_argument(
            "--rate-limit",
            default="off",
            help="per credential: published (the provider's own limit), N/s, N/60s, or off",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        host = loopback_host(options["host"])
        if not 0 <= options["port"] <= 65535:
            raise CommandError("--port must be between 0 and 65535")
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        signal.signal(signal.SIGINT, _interrupt)
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            self._run(host, options)
        except KeyboardInterrupt:
            self.stdout.write("stopped")
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _run(self, host: str, options: dict[str, Any]) -> None:
        flavor = options["flavor"]
        try:
            latency, jitter = parse_latency(options["latency"])
            limit = parse_rate_limit(options["rate_limit"], flavor)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        label, make_dataset = self._dataset(options)
        try:
            store = Store(options["state"] or ":memory:")
        except (OSError, sqlite3.Error) as exc:
            raise CommandError(f"cannot open the state file {options['state']}: {exc}") from exc
        try:
            held = store.get_meta(FLAVOR_KEY)
            if held and held != flavor:
                raise CommandError(f"{options['state']} holds the {held} emulator's state")
            app = FLAVORS[flavor].build(store)
            if options["reload"] or store.get_meta(SEEDED_KEY) != label:
                self._load(app, store, flavor, label, make_dataset)
            else:
                self.stdout.write(f"kept the state in {options['state']} ({label})")
            requests, window = limit or (0, 1.0)
            app.realism.configure(
                {"latency": latency, "jitter": jitter, "limit": requests, "window": window}
            )
            self.stdout.write(
                f"latency {latency * 1000:g} ms + up to {jitter * 1000:g} ms; rate limit "
                + (f"{requests} requests per {window:g} s per credential" if limit else "off")
            )
            try:
                running = serve_in_thread(app, host=host, port=options["port"])
            except OSError as exc:
                raise CommandError(f"cannot listen on {host}:{options['port']}: {exc}") from exc
            try:
                self._announce(flavor, app, running.url)
                threading.Event().wait()
            finally:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                running.stop()
        finally:
            store.close()

    @staticmethod
    def _dataset(options: dict[str, Any]) -> tuple[str, Callable[[], Dataset]]:
        sizes = [options[k] for k in ("orgs", "users", "memberships")]
        if all(size is None for size in sizes):
            return "demo", demo_dataset
        orgs, users, memberships = dataset_sizes(*sizes)
        if memberships > users * orgs:
            raise CommandError(
                f"{memberships} memberships do not fit {users} users in {orgs} organizations"
            )
        seed = options["seed"]
        label = f"generated orgs={orgs} users={users} memberships={memberships} seed={seed}"
        return label, lambda: generated_dataset(orgs, users, memberships, seed)

    def _load(
        self,
        app: EmulatorApp,
        store: Store,
        flavor: str,
        label: str,
        make_dataset: Callable[[], Dataset],
    ) -> None:
        self.stdout.write(f"loading {label} …")
        self.stdout.flush()
        started = time.perf_counter()
        with paused_gc():
            dataset = make_dataset()
        with store.transaction():
            app.reset(dataset)  # type: ignore[call-arg] - every emulator takes a dataset
            store.set_meta(SEEDED_KEY, label)
            store.set_meta(FLAVOR_KEY, flavor)
        counts = (len(dataset.organizations), len(dataset.people), len(dataset.memberships))
        del dataset
        gc.collect()
        self.stdout.write(
            "loaded {:,} organizations, {:,} users, {:,} memberships in {:.1f} s".format(
                *counts, time.perf_counter() - started
            )
        )

    def _announce(self, flavor: str, app: EmulatorApp, url: str) -> None:
        values = FLAVORS[flavor].settings(app, url)
        lines = [
            f"Serving the {flavor} emulator at {url}",
            "Point Karmo at it with these environment variables:",
            f"  KARMO_PROVIDER={flavor}",
            *(f"  {name}={value}" for name, value in values.items()),
            f"(or keep the sandbox: KARMO_SANDBOX_FLAVOR={flavor} KARMO_SANDBOX_URL={url})",
            "Press Ctrl-C to stop.",
        ]
        self.stdout.write("\n".join(lines))
        self.stdout.flush()

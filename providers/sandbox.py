"""The sandbox provider: a real adapter talking to its emulator, with state kept on disk.

In process the emulator answers through httpx.WSGITransport; its Store file under
KARMO_SANDBOX_DIR is shared by every process and survives restarts. With KARMO_SANDBOX_URL
set, the adapter talks to an emulator served elsewhere (`run_emulator`) instead.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
from django.conf import settings

from providers.base import Provider
from providers.emulators.server import EmulatorApp
from providers.emulators.state import Store
from providers.errors import ProviderNotConfigured

SEEDED_KEY = "karmo_sandbox_seeded"
SANDBOX_HOST = "http://sandbox.invalid"


class SandboxTransport(httpx.WSGITransport):
    """An in-process transport to an emulator app that closes its Store with the client."""

    def __init__(self, app: EmulatorApp, store: Store) -> None:
        super().__init__(app=app)
        self.store = store

    def close(self) -> None:
        self.store.close()


def sandbox_store(flavor: str) -> Store:
    """The flavour's state file under KARMO_SANDBOX_DIR."""
    return Store(Path(settings.KARMO_SANDBOX_DIR) / f"{flavor}.sqlite3")


def seed_once(app: EmulatorApp, store: Store) -> bool:
    """Load the demo data unless this store was seeded before; True when it seeded now."""
    if store.get_meta(SEEDED_KEY):
        return False
    with store.transaction():
        if store.get_meta(SEEDED_KEY):
            return False
        app.reset()
        store.set_meta(SEEDED_KEY, "demo")
    return True


def mark_sandbox(provider: Provider, flavor: str, transport: SandboxTransport | None) -> Provider:
    """Tag an adapter as the sandbox's; it keeps its provider `name` (the wire format)."""
    provider.sandbox_flavor = flavor  # type: ignore[attr-defined]
    provider.sandbox_transport = transport  # type: ignore[attr-defined]
    return provider


def _build_workos() -> Provider:
    from providers.emulators.workos import EMULATOR_API_KEY, WorkOSEmulator
    from providers.registry import budget_for, retry_policy
    from providers.workos import WorkOSProvider

    if settings.KARMO_SANDBOX_URL:
        provider = WorkOSProvider(
            api_key=EMULATOR_API_KEY,
            base_url=settings.KARMO_SANDBOX_URL,
            timeout=settings.KARMO_PROVIDER_TIMEOUT,
            retry=retry_policy(),
            budget=budget_for("workos"),
            concurrency=settings.KARMO_SYNC_CONCURRENCY,
        )
        return mark_sandbox(provider, "workos", None)
    store = sandbox_store("workos")
    app = WorkOSEmulator(store=store, api_key=EMULATOR_API_KEY)
    seed_once(app, store)
    transport = SandboxTransport(app, store)
    provider = WorkOSProvider(
        api_key=EMULATOR_API_KEY, base_url=SANDBOX_HOST, retry=retry_policy(), transport=transport
    )
    return mark_sandbox(provider, "workos", transport)


def _build_stytch() -> Provider:
    from providers.emulators.stytch import PROJECT_ID, SECRET, StytchEmulator
    from providers.registry import budget_for, retry_policy
    from providers.stytch import StytchProvider

    if settings.KARMO_SANDBOX_URL:
        provider = StytchProvider(
            project_id=PROJECT_ID,
            secret=SECRET,
            base_url=settings.KARMO_SANDBOX_URL,
            timeout=settings.KARMO_PROVIDER_TIMEOUT,
            retry=retry_policy(),
            budget=budget_for("stytch"),
            concurrency=settings.KARMO_SYNC_CONCURRENCY,
        )
        return mark_sandbox(provider, "stytch", None)
    store = sandbox_store("stytch")
    app = StytchEmulator(store=store, project_id=PROJECT_ID, secret=SECRET)
    seed_once(app, store)
    transport = SandboxTransport(app, store)
    provider = StytchProvider(
        project_id=PROJECT_ID,
        secret=SECRET,
        base_url=SANDBOX_HOST,
        retry=retry_policy(),
        transport=transport,
    )
    return mark_sandbox(provider, "stytch", transport)


def _build_zitadel() -> Provider:
    from providers.emulators.zitadel import DEFAULT_TOKEN, PROJECT_ID, ZitadelEmulator
    from providers.registry import budget_for, retry_policy
    from providers.zitadel import ZitadelProvider

    options = {"token": DEFAULT_TOKEN, "project_id": PROJECT_ID, "retry": retry_policy()}
    if settings.KARMO_SANDBOX_URL:
        provider = ZitadelProvider(
            base_url=settings.KARMO_SANDBOX_URL,
            timeout=settings.KARMO_PROVIDER_TIMEOUT,
            budget=budget_for("zitadel"),
            concurrency=settings.KARMO_SYNC_CONCURRENCY,
            **options,
        )
        return mark_sandbox(provider, "zitadel", None)
    store = sandbox_store("zitadel")
    app = ZitadelEmulator(store=store, token=DEFAULT_TOKEN)
    seed_once(app, store)
    transport = SandboxTransport(app, store)
    provider = ZitadelProvider(base_url=SANDBOX_HOST, transport=transport, **options)
    return mark_sandbox(provider, "zitadel", transport)


FLAVORS: dict[str, Callable[[], Provider]] = {
    "workos": _build_workos,
    "stytch": _build_stytch,
    "zitadel": _build_zitadel,
}


def build_sandbox_provider() -> Provider:
    """The adapter of KARMO_SANDBOX_FLAVOR, wired to its emulator."""
    flavor = settings.KARMO_SANDBOX_FLAVOR
    builder = FLAVORS.get(flavor)
    if builder is None:
        raise ProviderNotConfigured(
            f"unknown sandbox flavour {flavor!r}; choose one of {', '.join(sorted(FLAVORS))}"
        )
    return builder()

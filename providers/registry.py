"""Builds the configured provider from settings, at call time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

from providers.base import Capability, Provider, has_feed
from providers.budget import Budget, published_rate
from providers.errors import ProviderNotConfigured
from providers.http import RetryPolicy
from providers.observe import instrument


@dataclass(frozen=True, slots=True)
class ProviderStatus:
    """What the console header says about the provider."""

    name: str
    configured: bool
    reason: str = ""
    capabilities: frozenset[Capability] = frozenset()
    pull_feed: bool = False


def retry_policy() -> RetryPolicy:
    """The retry policy from settings."""
    return RetryPolicy(
        max_retries=settings.KARMO_PROVIDER_MAX_RETRIES,
        retry_after_cap=settings.KARMO_PROVIDER_RETRY_AFTER_CAP,
    )


def budget_for(provider: str) -> Budget:
    """The provider's request budget: a fraction of its published (or configured) limit."""
    rate = settings.KARMO_PROVIDER_RATE_LIMIT or published_rate(provider)
    return Budget(rate * settings.KARMO_PROVIDER_RATE_FRACTION)


def _build_workos() -> Provider:
    from providers.workos import WorkOSProvider

    if not settings.WORKOS_API_KEY:
        raise ProviderNotConfigured("WORKOS_API_KEY is not set")
    return WorkOSProvider(
        api_key=settings.WORKOS_API_KEY,
        base_url=settings.WORKOS_BASE_URL,
        timeout=settings.KARMO_PROVIDER_TIMEOUT,
        retry=retry_policy(),
        budget=budget_for("workos"),
        concurrency=settings.KARMO_SYNC_CONCURRENCY,
    )


def _build_zitadel() -> Provider:
    from providers.zitadel import from_settings

    return from_settings()


def _build_stytch() -> Provider:
    from providers.stytch import StytchProvider

    if not (settings.STYTCH_PROJECT_ID and settings.STYTCH_SECRET):
        raise ProviderNotConfigured("STYTCH_PROJECT_ID and STYTCH_SECRET must both be set")
    return StytchProvider(
        project_id=settings.STYTCH_PROJECT_ID,
        secret=settings.STYTCH_SECRET,
        environment=settings.STYTCH_ENVIRONMENT,
        base_url=settings.STYTCH_BASE_URL,
        timeout=settings.KARMO_PROVIDER_TIMEOUT,
        retry=retry_policy(),
        budget=budget_for("stytch"),
        concurrency=settings.KARMO_SYNC_CONCURRENCY,
    )


def _build_sandbox() -> Provider:
    from providers.sandbox import build_sandbox_provider

    return build_sandbox_provider()


BUILDERS: dict[str, Callable[[], Provider]] = {
    "sandbox": _build_sandbox,
    "workos": _build_workos,
    "stytch": _build_stytch,
    "zitadel": _build_zitadel,
}


def get_provider() -> Provider:
    """The provider named by KARMO_PROVIDER; raises ProviderNotConfigured if it cannot be built."""
    name = settings.KARMO_PROVIDER
    builder = BUILDERS.get(name)
    if builder is None:
        raise ProviderNotConfigured(f"unknown provider {name!r}")
    return instrument(builder())


def provider_status() -> ProviderStatus:
    """Whether the configured provider can be used, without calling it."""
    name = settings.KARMO_PROVIDER
    if name == "sandbox":
        name = f"sandbox ({settings.KARMO_SANDBOX_FLAVOR})"
    try:
        provider = get_provider()
    except ProviderNotConfigured as exc:
        return ProviderStatus(name=name, configured=False, reason=exc.message)
    provider.close()
    return ProviderStatus(
        name=name,
        configured=True,
        capabilities=provider.capabilities,
        pull_feed=has_feed(provider),
    )

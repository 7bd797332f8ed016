"""Prometheus metrics and one JSON-ready log line per provider operation.

`instrument()` wraps an adapter so every operation (the Provider protocol's methods) is timed
and counted by provider, operation and outcome; `count_retry()` is called by the HTTP wrapper.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter, Histogram

from providers.base import Capability, Provider
from providers.errors import ProviderError

logger = logging.getLogger("karmo.providers.calls")

OPERATIONS = frozenset(
    {c.value for c in Capability} | {"get_organization", "get_user", "get_membership"}
)
LISTINGS = frozenset({"list_organizations", "list_users", "list_memberships", "list_roles"})

CALL_SECONDS = Histogram(
    "karmo_provider_call_duration_seconds",
    "Provider operations by provider, operation and outcome (ok or the error class).",
    ["provider", "operation", "outcome"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120, 600),
)
RETRIES = Counter(
    "karmo_provider_retries_total",
    "Provider requests retried, by reason (rate_limited is a 429 answer).",
    ["provider", "reason"],
)


def count_retry(provider: str, *, rate_limited: bool) -> None:
    """One retry of a provider request."""
    RETRIES.labels(provider, "rate_limited" if rate_limited else "transient").inc()


class InstrumentedProvider:
    """Delegates everything to the adapter; operations are timed, counted and logged."""

    def __init__(self, inner: Provider) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name not in OPERATIONS or not callable(value):
            return value
        if name in LISTINGS:
            return self._timed_listing(name, value)
        return self._timed(name, value)

    def _observe(self, operation: str, started: float, error: BaseException | None) -> None:
        seconds = time.perf_counter() - started
        outcome = "ok" if error is None else type(error).__name__
        provider = getattr(self._inner, "name", type(self._inner).__name__)
        CALL_SECONDS.labels(provider, operation, outcome).observe(seconds)
        logger.info(
            "provider call %s.%s %s in %.1f ms",
            provider,
            operation,
            outcome,
            seconds * 1000,
            extra={
                "provider": provider,
                "operation": operation,
                "outcome": outcome,
                "status": getattr(error, "status_code", None),
                "provider_request_id": getattr(error, "request_id", None),
                "duration_ms": round(seconds * 1000, 1),
            },
        )

    def _timed(self, operation: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                result = method(*args, **kwargs)
            except ProviderError as exc:
                self._observe(operation, started, exc)
                raise
            self._observe(operation, started, None)
            return result

        return call

    def _timed_listing(self, operation: str, method: Callable[..., Any]) -> Callable[..., Any]:
        # Listings are generators: the call is the whole walk over every page. The adapter is
        # asked for the listing at once, not at the first item: it may share one read between
        # listings asked for together (Stytch's members are users and memberships).
        def listing(*args: Any, **kwargs: Any) -> Any:
            return walk(method(*args, **kwargs))

        def walk(items: Any) -> Any:
            started = time.perf_counter()
            try:
                yield from items
            except ProviderError as exc:
                self._observe(operation, started, exc)
                raise
            self._observe(operation, started, None)

        return listing


def instrument(provider: Provider) -> Provider:
    """The adapter wrapped so its operations show in metrics and logs."""
    return InstrumentedProvider(provider)  # type: ignore[return-value]

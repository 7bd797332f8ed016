"""Reading a changed target back from the provider, to check that the change really happened."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from accounts.errors import from_provider_error
from providers.base import Provider
from providers.errors import ProviderError


@dataclass(frozen=True, slots=True)
class ReadBack:
    """One GET that re-reads the target, what the change asked for, and how to compare.

    `read` gets the provider's answer to the change (it names the target, e.g. a new user's
    id) and returns a fresh value of the same type; `observe` reduces a value to the keys
    of `wanted`.
    """

    read: Callable[[Provider, Any], Any]
    wanted: dict[str, Any]
    observe: Callable[[Any], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Mismatch:
    """What the read-back showed instead of what was asked (value None when it failed)."""

    wanted: dict[str, Any]
    observed: dict[str, Any] | None
    value: Any = None
    error_code: str = ""
    message: str = ""


def check(provider: Provider, read_back: ReadBack, answer: Any) -> Mismatch | None:
    """Read the target back; None when it shows what was asked.

    A failed read is a mismatch too: the change cannot be confirmed, though it may have happened.
    """
    try:
        value = read_back.read(provider, answer)
    except ProviderError as exc:
        error = from_provider_error(exc, provider.name)
        return Mismatch(read_back.wanted, None, error_code=error.code.code, message=error.message)
    observed = read_back.observe(value)
    if observed == read_back.wanted:
        return None
    return Mismatch(read_back.wanted, observed, value)

"""Template context every console page needs: provider state, the signed-in role, badges."""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.contrib.auth.context_processors import PermLookupDict, PermWrapper
from django.core.cache import cache
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from accounts import selectors
from accounts.permissions import (
    APPROVE_REQUESTS,
    AUDITOR,
    HELP_DESK,
    MANAGER,
    REQUEST_REACTIVATION,
    VERIFY_AUDIT,
)
from accounts.theme import theme_context
from providers.base import Capability
from providers.registry import ProviderStatus, provider_status

_PROVIDER_SETTINGS = ("KARMO_PROVIDER", "KARMO_SANDBOX", "WORKOS_", "STYTCH_", "ZITADEL_")
_ROLE_MARKS = (
    (MANAGER, APPROVE_REQUESTS),
    (AUDITOR, VERIFY_AUDIT),
    (HELP_DESK, REQUEST_REACTIVATION),
)


def provider_keys() -> tuple[str, str]:
    """Cache keys for the provider's status and health, tied to its configuration."""
    names = sorted(n for n in dir(settings) if n.startswith(_PROVIDER_SETTINGS))
    config = repr([(n, str(getattr(settings, n))) for n in names])
    digest = hashlib.sha256(config.encode()).hexdigest()[:16]
    return f"provider:status:{digest}", f"provider:health:{digest}"


def _provider() -> dict[str, Any]:
    """Configured state (cached briefly; building a provider is not free) and reachability."""
    status_key, health_key = provider_keys()
    cached = cache.get_many([status_key, health_key])
    status = cached.get(status_key)
    if status is None:
        found = provider_status()
        status = {
            "name": found.name,
            "configured": found.configured,
            "reason": found.reason,
            "pull_feed": found.pull_feed,
            # Unconfigured: show every action, disabled, so staff see what is missing.
            "can": dict.fromkeys((c.value for c in found.capabilities), True)
            if found.configured
            else dict.fromkeys(Capability, True),
        }
        cache.set(status_key, status, timeout=30)
    health = cached.get(health_key)
    return {
        **status,
        "reachable": health is None,
        "problem": status["reason"] or (health or {}).get("reason", ""),
    }


def staff_role(user: Any) -> str:
    """The console role a staff member acts in, by the permission only that role holds.

    Read from the permissions every page has loaded anyway, not from a query of the groups.
    """
    if user.is_superuser:
        return "Superuser"
    return next((role for role, perm in _ROLE_MARKS if user.has_perm(perm)), "Staff")


class _AppPerms(PermLookupDict):
    """One app's permissions for templates, each answer kept for the rest of the render."""

    def __init__(self, user: Any, app_label: str) -> None:
        super().__init__(user, app_label)
        self._answers: dict[str, bool] = {}

    def __getitem__(self, perm_name: str) -> bool:
        if perm_name not in self._answers:
            self._answers[perm_name] = super().__getitem__(perm_name)
        return self._answers[perm_name]


class RememberingPerms(PermWrapper):
    """`perms` in templates: a page of rows asks the same few questions dozens of times, and
    each fresh `has_perm` walks every authentication backend again."""

    def __init__(self, user: Any) -> None:
        super().__init__(user)
        self._apps: dict[str, _AppPerms] = {}

    def __getitem__(self, app_label: str) -> _AppPerms:
        if app_label not in self._apps:
            self._apps[app_label] = _AppPerms(self.user, app_label)
        return self._apps[app_label]


def console(request: HttpRequest) -> dict[str, Any]:
    """Header facts, each computed only when a template reads it."""
    user = request.user
    provider = SimpleLazyObject(_provider)
    context: dict[str, Any] = {
        "provider": provider,
        "provider_status": SimpleLazyObject(
            lambda: ProviderStatus(provider["name"], provider["configured"], provider["reason"])
        ),
        **theme_context(request),
        "time_limit_max_days": settings.KARMO_TIME_LIMIT_MAX_DAYS,
    }
    if user.is_authenticated and user.is_staff:
        context["perms"] = RememberingPerms(user)
        context["staff_role"] = SimpleLazyObject(lambda: staff_role(user))
        context["pending_count"] = SimpleLazyObject(lambda: selectors.pending_count(user))
        context["last_sync"] = SimpleLazyObject(selectors.last_sync)
    return context

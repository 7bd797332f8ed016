"""The one place that decides which organizations a staff member may see and act on.

Every read (console, admin, API) and every service narrows its rows with `scoped()`, and
services refuse targets `contains()` rejects with the same not-found error as a missing row,
so nothing outside a scope is shown, counted or hinted at.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q, QuerySet

from accounts.errors import ErrorCode
from accounts.models import (
    AuditEvent,
    MembershipRole,
    Organization,
    OrganizationMembership,
    OrganizationRole,
    ProviderUser,
    ReactivationRequest,
    StaffScope,
)

_CACHE_ATTRIBUTE = "_karmo_scope"


@dataclass(frozen=True, slots=True)
class Scope:
    """A set of organizations: everything, or chosen ones plus those a rule matches."""

    everything: bool = False
    organization_pks: frozenset[int] = frozenset()
    name_patterns: tuple[str, ...] = ()
    id_patterns: tuple[str, ...] = ()

    def organizations(self, prefix: str = "") -> Q:
        """A filter over Organization, or over a model reaching it through `prefix`."""
        if self.everything:
            return Q()
        parts = [Q(**{f"{prefix}name__iregex": p}) for p in self.name_patterns]
        parts += [Q(**{f"{prefix}external_id__iregex": p}) for p in self.id_patterns]
        if self.organization_pks or not parts:
            parts.append(Q(**{f"{prefix}pk__in": sorted(self.organization_pks)}))
        combined = parts[0]
        for part in parts[1:]:
            combined |= part
        return combined


EVERYTHING = Scope(everything=True)
NOTHING = Scope()


def scope_of(actor: Any) -> Scope:
    """The actor's scope: the system and superusers see everything; one query, then cached.

    A staff member with no scope of their own or through a group gets `KARMO_DEFAULT_SCOPE`.
    """
    if actor is None:
        return EVERYTHING
    if not (actor.is_authenticated and actor.is_active):
        return NOTHING
    if actor.is_superuser:
        return EVERYTHING
    cached = getattr(actor, _CACHE_ATTRIBUTE, None)
    if cached is not None:
        return cached
    rows = list(
        StaffScope.objects.filter(Q(user=actor) | Q(group__user=actor)).values_list(
            "all_organizations", "name_pattern", "id_pattern", "organizations"
        )
    )
    if not rows:
        scope = EVERYTHING if settings.KARMO_DEFAULT_SCOPE == "all" else NOTHING
    elif any(everything for everything, _, _, _ in rows):
        scope = EVERYTHING
    else:
        scope = Scope(
            organization_pks=frozenset(pk for *_, pk in rows if pk is not None),
            name_patterns=tuple(sorted({name for _, name, _, _ in rows if name})),
            id_patterns=tuple(sorted({ids for _, _, ids, _ in rows if ids})),
        )
    setattr(actor, _CACHE_ATTRIBUTE, scope)
    return scope


def _users(scope: Scope) -> Q:
    in_scope = OrganizationMembership.objects.present().filter(
        scope.organizations("organization__"), user=OuterRef("pk")
    )
    return Q(Exists(in_scope))


def _requests(scope: Scope) -> Q:
    people = ProviderUser.objects.filter(_users(scope)).values("pk")
    return (
        scope.organizations("membership__organization__")
        | scope.organizations("organization__")
        | Q(provider_user__in=people)
    )


def _audit_events(scope: Scope) -> Q:
    organizations = Organization.objects.filter(scope.organizations()).values("external_id")
    people = ProviderUser.objects.filter(_users(scope)).values("external_id")
    return Q(organization_external_id__in=organizations) | Q(
        organization_external_id="", user_external_id__in=people
    )


_RULES: dict[type[models.Model], Callable[[Scope], Q]] = {
    Organization: lambda scope: scope.organizations(),
    OrganizationMembership: lambda scope: scope.organizations("organization__"),
    MembershipRole: lambda scope: scope.organizations("organization__"),
    OrganizationRole: lambda scope: (
        Q(organization__isnull=True) | scope.organizations("organization__")
    ),
    ProviderUser: _users,
    ReactivationRequest: _requests,
    AuditEvent: _audit_events,
}


def is_scoped(model: type[models.Model]) -> bool:
    """Whether rows of this model belong to organizations (and so to scopes)."""
    return model in _RULES


def scoped[M: models.Model](actor: Any, queryset: QuerySet[M]) -> QuerySet[M]:
    """`queryset` narrowed to the rows inside the actor's scope."""
    scope = scope_of(actor)
    if scope.everything:
        return queryset
    return queryset.filter(_RULES[queryset.model](scope))


def contains(actor: Any, target: models.Model) -> bool:
    """Whether one row is inside the actor's scope (no query for unscoped actors)."""
    if scope_of(actor).everything:
        return True
    manager = type(target)._default_manager
    return scoped(actor, manager.filter(pk=target.pk)).exists()


NOT_FOUND: dict[type[models.Model], ErrorCode] = {
    Organization: ErrorCode.ORGANIZATION_NOT_FOUND,
    ProviderUser: ErrorCode.USER_NOT_FOUND,
    OrganizationMembership: ErrorCode.MEMBERSHIP_NOT_FOUND,
    OrganizationRole: ErrorCode.ROLE_NOT_FOUND,
    ReactivationRequest: ErrorCode.REQUEST_NOT_FOUND,
}


def not_found_code(target: models.Model) -> ErrorCode:
    """The code a missing row of this kind answers with, so out of scope looks the same."""
    return NOT_FOUND.get(type(target), ErrorCode.NOT_FOUND)


def scope_state(scope: StaffScope) -> dict[str, Any]:
    """What the audit log keeps of a scope."""
    return {
        "holder": str(scope.group or scope.user),
        "all_organizations": scope.all_organizations,
        "organizations": sorted(scope.organizations.values_list("external_id", flat=True)),
        "name_pattern": scope.name_pattern,
        "id_pattern": scope.id_pattern,
    }

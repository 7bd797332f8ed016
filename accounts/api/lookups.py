"""Find mirrored records by the provider ids in API paths, or answer 404 with a precise code."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet

from accounts.errors import ErrorCode, KarmoError
from accounts.models import (
    MembershipRole,
    Organization,
    OrganizationMembership,
    ProviderUser,
    ReactivationRequest,
    TimedAccess,
)
from accounts.scopes import scoped


def memberships(actor: Any) -> QuerySet[OrganizationMembership]:
    """Present memberships in the actor's scope with what MembershipOut reads, in four queries
    per page."""
    return (
        scoped(actor, OrganizationMembership.objects.present())
        .select_related("organization", "user")
        .prefetch_related(
            Prefetch("roles", queryset=MembershipRole.objects.order_by("slug")),
            Prefetch(
                "time_limits", queryset=TimedAccess.objects.running(), to_attr="running_limits"
            ),
        )
    )


def requests(actor: Any) -> QuerySet[ReactivationRequest]:
    """Requests in the actor's scope with what ReactivationRequestOut reads."""
    return (
        scoped(actor, ReactivationRequest.objects.all())
        .select_related(
            "organization",
            "provider_user",
            "membership__organization",
            "membership__user",
            "requested_by",
            "decided_by",
        )
        .prefetch_related("time_limits")
    )


def get_organization(actor: Any, org_id: str) -> Organization:
    """The present organization with this provider id, if in the actor's scope."""
    org = (
        scoped(actor, Organization.objects.present())
        .filter(external_id=org_id)
        .order_by("-synced_at")
        .first()
    )
    if org is None:
        raise KarmoError(ErrorCode.ORGANIZATION_NOT_FOUND, meta={"orgId": org_id})
    return org


def get_user(actor: Any, user_id: str) -> ProviderUser:
    """The present provider user with this provider id, if in the actor's scope."""
    users = scoped(actor, ProviderUser.objects.present())
    user = users.filter(external_id=user_id).order_by("-synced_at").first()
    if user is None:
        raise KarmoError(ErrorCode.USER_NOT_FOUND, meta={"userId": user_id})
    return user


def get_membership(actor: Any, org_id: str, user_id: str) -> OrganizationMembership:
    """The present membership of user `user_id` in organization `org_id`, if in scope."""
    org = get_organization(actor, org_id)
    user = get_user(actor, user_id)
    membership = memberships(actor).filter(organization=org, user=user).first()
    if membership is None:
        raise KarmoError(ErrorCode.MEMBERSHIP_NOT_FOUND, meta={"orgId": org_id, "userId": user_id})
    return membership


def get_request(actor: Any, request_id: int) -> ReactivationRequest:
    """The reactivation request with this id, if in the actor's scope."""
    found = requests(actor).filter(pk=request_id).first()
    if found is None:
        raise KarmoError(ErrorCode.REQUEST_NOT_FOUND, meta={"requestId": request_id})
    return found

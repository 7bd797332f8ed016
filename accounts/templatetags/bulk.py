"""Panels for bulk work: deciding several requests, asking for several reactivations."""

from __future__ import annotations

from typing import Any

from django import template

from accounts import bulk
from accounts.models import OrganizationMembership, ProviderUser
from accounts.permissions import APPROVE_REQUESTS, REQUEST_REACTIVATION

register = template.Library()


@register.inclusion_tag("components/bulk_decide.html", takes_context=True)
def bulk_decide_panel(context: dict[str, Any]) -> dict[str, Any]:
    """Checkboxes for the pending requests the signed-in manager may decide."""
    request = context["request"]
    user = request.user
    rows = []
    if user.has_perm(APPROVE_REQUESTS):
        rows = [
            (r, bulk.selectors.request_target_state(r)["label"])
            for r in bulk.decidable(user)[: bulk.MAX_ITEMS]
        ]
    return {
        "rows": rows,
        "csrf_token": context.get("csrf_token"),
        "provider": context.get("provider"),
    }


@register.inclusion_tag("components/bulk_request.html", takes_context=True)
def bulk_request_panel(
    context: dict[str, Any], person: ProviderUser, memberships: list[OrganizationMembership]
) -> dict[str, Any]:
    """Checkboxes for the person's inactive memberships a reactivation can be asked for.

    `memberships` are the page's own, already scoped and decorated: no query of its own.
    """
    user = context["request"].user
    memberships = bulk.requestable(memberships) if user.has_perm(REQUEST_REACTIVATION) else []
    return {"person": person, "memberships": memberships, "csrf_token": context.get("csrf_token")}

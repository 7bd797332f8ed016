"""The command palette's answers: people, organizations and pages matching what was typed.

People and organizations come from the same scoped search as Find, so a scoped staff member
is never offered a name outside their organizations; pages are only those they may open.
"""

from __future__ import annotations

from typing import Any

from django.http import JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_GET

from accounts import selectors
from accounts.permissions import VIEW_AUDIT
from accounts.views.base import HtmxHttpRequest, console_view

PALETTE_LIMIT = 8
VIEW_PEOPLE = "accounts.view_provideruser"
VIEW_ORGANIZATIONS = "accounts.view_organization"
# (label, URL name, permission needed or "" for every staff member, words it answers to)
PAGES = (
    ("Home", "console:home", "", "start dashboard"),
    ("Find", "console:find", VIEW_PEOPLE, "search people organizations"),
    ("Approvals", "console:approvals", "accounts.view_reactivationrequest", "requests queue"),
    ("Audit log", "console:audit", VIEW_AUDIT, "events history"),
    ("Verification failures", "console:verification", VIEW_AUDIT, "readback"),
    ("Sync", "console:sync", "", "provider mirror runs"),
    ("Security", "security", "", "passkey password factor sign-in"),
)


def pages_for(user: Any, text: str) -> list[dict[str, str]]:
    """The pages the user may open whose name or keywords contain `text`."""
    lowered = text.lower()
    return [
        {"kind": "Page", "label": label, "detail": "", "url": reverse(name)}
        for label, name, perm, words in PAGES
        if (not perm or user.has_perm(perm)) and lowered in f"{label} {words}".lower()
    ]


@require_GET
@console_view
def palette(request: HtmxHttpRequest) -> JsonResponse:
    """What the palette offers for `q`: pages first, then people and organizations in scope."""
    text = selectors.clean_query(request.GET.get("q", ""), limit=100)
    items = pages_for(request.user, text)
    can_people = request.user.has_perm(VIEW_PEOPLE)
    can_orgs = request.user.has_perm(VIEW_ORGANIZATIONS)
    if len(text) >= 2 and (can_people or can_orgs):
        found = selectors.search(text, request.user, limit=PALETTE_LIMIT, with_memberships=False)
        if can_people:
            items += [
                {
                    "kind": "Person",
                    "label": person.full_name or person.email,
                    "detail": person.email,
                    "url": reverse("console:person", args=[person.pk]),
                }
                for person in found.people
            ]
        if can_orgs:
            items += [
                {
                    "kind": "Organization",
                    "label": org.name,
                    "detail": org.external_id,
                    "url": reverse("console:organization", args=[org.pk]),
                }
                for org in found.organizations
            ]
    return JsonResponse({"query": text, "items": items})

"""CSV exports of Find's results and of an organization's members, escaped like the audit export.

Each export holds what its page shows for the same query string (scoped the same way); the
member list holds every member matching the filters, not only the page on screen.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator

from django.contrib.auth.decorators import permission_required
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_GET

from accounts import selectors
from accounts.models import MirrorStatus, Organization, OrganizationMembership
from accounts.scopes import scoped
from accounts.views.audit import escape_cell
from accounts.views.base import HtmxHttpRequest, console_view

SEARCH_FIELDS = ("kind", "name", "email", "provider_id", "status", "memberships")
MEMBER_FIELDS = (
    "email",
    "name",
    "user_provider_id",
    "membership_provider_id",
    "status",
    "roles",
    "synced_at",
)
CHUNK = 500


class _Echo:
    def write(self, value: str) -> str:
        return value


def _rows(header: tuple[str, ...], rows: Iterable[Iterable[object]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([escape_cell(value) for value in row])


def _csv(lines: Iterator[str], *parts: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    name = "-".join(slugify(part) for part in ("karmo", *parts) if slugify(part))[:120]
    response["Content-Disposition"] = (
        f'attachment; filename="{name}-{timezone.now():%Y%m%dT%H%M%SZ}.csv"'
    )
    return response


@require_GET
@console_view
@permission_required("accounts.view_provideruser", raise_exception=True)
def find_export(request: HtmxHttpRequest) -> StreamingHttpResponse:
    """The people and organizations Find shows for `q`, one row each."""
    results = selectors.search(request.GET.get("q", ""), request.user)
    people = (
        (
            "person",
            person.full_name,
            person.email,
            person.external_id,
            person.status,
            "; ".join(f"{org}: {status}" for org, status in person.membership_chips),
        )
        for person in results.people
    )
    organizations = (
        ("organization", org.name, "", org.external_id, org.status, "")
        for org in results.organizations
    )
    lines = _rows(SEARCH_FIELDS, [*people, *organizations])
    return _csv(lines, "find", results.query)


@require_GET
@console_view
@permission_required("accounts.view_organizationmembership", raise_exception=True)
def members_export(request: HtmxHttpRequest, pk: int) -> StreamingHttpResponse:
    """Every member of one organization matching the page's status and role filters."""
    org = get_object_or_404(scoped(request.user, Organization.objects), pk=pk)
    status = request.GET.get("status", "")
    status = status if status in MirrorStatus.values else ""
    role = selectors.clean_query(request.GET.get("role", ""), limit=64)
    members = selectors.organization_members(org, status=status, role=role)
    lines = _rows(MEMBER_FIELDS, (_member(m) for m in members.iterator(chunk_size=CHUNK)))
    return _csv(lines, org.name, "members", status, role)


def _member(membership: OrganizationMembership) -> tuple[object, ...]:
    person = membership.user
    return (
        person.email,
        person.full_name,
        person.external_id,
        membership.external_id,
        membership.status,
        " ".join(membership.role_slugs),
        membership.synced_at,
    )

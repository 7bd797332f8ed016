"""Reads for the console: searches and page data, each a fixed number of indexed queries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models
from django.db.models import Prefetch, Q, QuerySet
from django.db.models.functions import Lower
from django.utils import timezone

from accounts import search_index
from accounts.event_text import describe_events
from accounts.models import (
    AuditEvent,
    MembershipRole,
    MirrorStatus,
    Organization,
    OrganizationMembership,
    OrganizationRole,
    ProviderUser,
    ReactivationRequest,
    SyncRun,
    TimedAccess,
)
from accounts.permissions import APPROVE_REQUESTS
from accounts.scopes import scoped

# Every mirror table is keyed by (provider, external_id); naming the providers lets an
# exact id lookup use that index whatever the active provider is called.
PROVIDER_NAMES = ("sandbox", "workos", "stytch", "zitadel")
SEARCH_LIMIT = 20
HISTORY_LIMIT = 25
AUDIT_PAGE_SIZE = 50
MEMBERS_PAGE_SIZE = 25
COUNT_CAP = 10_000
_TOP = "\U0010ffff"

Staff = AbstractBaseUser | AnonymousUser


def clean_query(value: str, limit: int = 200) -> str:
    """User-typed text fit for a query: no NUL (PostgreSQL refuses it), spaces collapsed."""
    return " ".join(value.replace("\x00", "").split())[:limit]


def prefix_filter(alias: str, prefix: str) -> Q:
    """`alias` starts with `prefix`, as a range so a plain btree index serves it."""
    return Q(**{f"{alias}__gte": prefix, f"{alias}__lt": prefix + _TOP})


@dataclass(frozen=True, slots=True)
class SearchResults:
    """People and organizations matching one search box."""

    query: str
    people: list[ProviderUser]
    organizations: list[Organization]


# What a result shows: loading only these skips converting every row's four timestamps.
PERSON_RESULT_FIELDS = ("id", "email", "first_name", "last_name", "status", "external_id")
ORG_RESULT_FIELDS = ("id", "name", "status", "external_id")


def search(
    query: str, viewer: Staff, limit: int = SEARCH_LIMIT, *, with_memberships: bool = True
) -> SearchResults:
    """Match email, last name, 'first last', provider id, organization name or id.

    Each way of matching is its own query ordered by its own index and limited, so every one
    is an index range scan; one OR query lets PostgreSQL walk the email index and filter.
    With `with_memberships`, each person gets `membership_chips`: (organization name, status
    label) of their in-scope memberships.
    """
    query = clean_query(query)
    if len(query) < 2:
        return SearchResults(query, [], [])
    lowered = query.lower()
    users = (
        scoped(viewer, ProviderUser.objects.present())
        .only(*PERSON_RESULT_FIELDS)
        .alias(email_l=Lower("email"), last_l=Lower("last_name"), first_l=Lower("first_name"))
    )
    first, _, last = lowered.partition(" ")
    by_name = prefix_filter("last_l", lowered)
    if last:
        by_name |= prefix_filter("last_l", last) & prefix_filter("first_l", first)
    people_queries = [
        users.filter(prefix_filter("email_l", lowered)).order_by("email_l"),
        users.filter(by_name).order_by("last_l", "first_l"),
    ]
    orgs = (
        scoped(viewer, Organization.objects.present())
        .only(*ORG_RESULT_FIELDS)
        .alias(name_l=Lower("name"))
    )
    org_queries = [orgs.filter(prefix_filter("name_l", lowered)).order_by("name_l")]
    if search_index.supported(query):
        # Anywhere in email, name, domain or provider id, in any case (trigram indexes): an
        # exact provider id is one such match, so it needs no query of its own.
        people_queries.append(users.filter(search_index.containing("accounts_provideruser", query)))
        org_queries.append(orgs.filter(search_index.containing("accounts_organization", query)))
    else:
        people_queries.append(users.filter(provider__in=PROVIDER_NAMES, external_id=query))
        org_queries.append(orgs.filter(provider__in=PROVIDER_NAMES, external_id=query))
    people = _merged(
        people_queries,
        key=lambda person: person.email.lower(),
        limit=limit,
    )
    if with_memberships:
        _attach_membership_chips(people, viewer)
    organizations = _merged(
        org_queries,
        key=lambda org: org.name.lower(),
        limit=limit,
    )
    return SearchResults(query, people, organizations)


def _attach_membership_chips(people: list[ProviderUser], viewer: Staff) -> None:
    """Each person's in-scope memberships as (organization name, status label), in one query."""
    chips: dict[int, list[tuple[str, str]]] = {person.pk: [] for person in people}
    labels = dict(MirrorStatus.choices)
    rows = (
        scoped(viewer, OrganizationMembership.objects.present())
        .filter(user_id__in=chips)
        .order_by("user_id", "organization__name")
        .values_list("user_id", "organization__name", "status")
    )
    for user_id, organization, status in rows:
        chips[user_id].append((organization, labels.get(status, status).lower()))
    for person in people:
        person.membership_chips = chips[person.pk]


def _merged[T: models.Model](
    querysets: list[QuerySet[T]], *, key: Callable[[T], str], limit: int
) -> list[T]:
    """The first `limit` rows of each query, without duplicates, sorted by `key`."""
    found: dict[int, T] = {}
    for queryset in querysets:
        for row in queryset[:limit]:
            found.setdefault(row.pk, row)
    return sorted(found.values(), key=key)[:limit]


def memberships_with_roles() -> QuerySet[OrganizationMembership]:
    """Memberships with their organization and role slugs loaded."""
    return (
        OrganizationMembership.objects.present()
        .select_related("organization", "user")
        .prefetch_related(Prefetch("roles", queryset=MembershipRole.objects.order_by("slug")))
    )


def open_requests_by_target(target_keys: list[str]) -> dict[str, ReactivationRequest]:
    """Open reactivation requests, keyed by target key."""
    if not target_keys:
        return {}
    requests = ReactivationRequest.objects.open().filter(target_key__in=target_keys)
    return {r.target_key: r for r in requests.select_related("requested_by")}


def roles_by_organization(organization_ids: list[int]) -> dict[int | None, list[OrganizationRole]]:
    """Roles assignable in each organization (its own plus environment-wide ones)."""
    roles = (
        OrganizationRole.objects.present()
        .filter(Q(organization_id__in=organization_ids) | Q(organization__isnull=True))
        .only("organization_id", "slug", "name", "description")
    )
    grouped: dict[int | None, list[OrganizationRole]] = {}
    for role in roles.order_by("slug"):
        grouped.setdefault(role.organization_id, []).append(role)
    shared = grouped.get(None, [])
    return {org_id: [*grouped.get(org_id, []), *shared] for org_id in organization_ids}


def decorate_memberships(memberships: list[OrganizationMembership]) -> None:
    """Attach `open_request`, `assignable_roles` and `time_limit` to each (three queries)."""
    requests = open_requests_by_target([f"membership:{m.pk}" for m in memberships])
    roles = roles_by_organization(sorted({m.organization_id for m in memberships}))
    limits = {
        limit.membership_id: limit
        for limit in TimedAccess.objects.running().filter(
            membership__in=[m.pk for m in memberships]
        )
    }
    for membership in memberships:
        membership.open_request = requests.get(f"membership:{membership.pk}")
        membership.assignable_roles = roles.get(membership.organization_id, [])
        membership.time_limit = limits.get(membership.pk)


def person_memberships(person: ProviderUser, viewer: Staff) -> list[OrganizationMembership]:
    """The person's present memberships in the viewer's scope, decorated for the person page."""
    found = memberships_with_roles().select_related(None).select_related("organization")
    memberships = list(
        scoped(viewer, found.filter(user=person)).order_by("organization__name", "pk")
    )
    for membership in memberships:
        membership.user = person  # already loaded: no join for it
    decorate_memberships(memberships)
    return memberships


MEMBERSHIP_SORTS = {
    "organization": ("Organization A–Z", lambda m: (m.organization.name.lower(), m.pk)),
    "status": ("Status, inactive first", lambda m: (_STATUS_ORDER.get(m.status, 9), m.pk)),
    "synced": ("Recently synced", lambda m: -m.synced_at.timestamp()),
}
_STATUS_ORDER = {"inactive": 0, "pending": 1, "active": 2}
SHOWN_MEMBERSHIPS = 10


@dataclass(frozen=True, slots=True)
class MembershipList:
    """A person's memberships as filtered and sorted on the page, with what the filters offer."""

    shown: list[OrganizationMembership]
    total: int
    status_counts: dict[str, int]
    role_slugs: list[str]
    filters: dict[str, str]

    @property
    def first(self) -> list[OrganizationMembership]:
        return self.shown[:SHOWN_MEMBERSHIPS]

    @property
    def rest(self) -> list[OrganizationMembership]:
        return self.shown[SHOWN_MEMBERSHIPS:]

    @property
    def filtered(self) -> bool:
        return any(value for name, value in self.filters.items() if name != "sort")


def membership_list(
    memberships: list[OrganizationMembership],
    *,
    status: str = "",
    role: str = "",
    organization: str = "",
    sort: str = "",
) -> MembershipList:
    """Filter and sort already loaded memberships (no queries: the page loads them all anyway)."""
    sort = sort if sort in MEMBERSHIP_SORTS else "organization"
    text = organization.strip().lower()
    shown = [
        m
        for m in memberships
        if (not status or m.status == status)
        and (not role or role in m.role_slugs)
        and (
            not text
            or text in m.organization.name.lower()
            or text in m.organization.external_id.lower()
        )
    ]
    shown.sort(key=MEMBERSHIP_SORTS[sort][1])
    counts: dict[str, int] = {}
    for m in memberships:
        counts[m.status] = counts.get(m.status, 0) + 1
    return MembershipList(
        shown=shown,
        total=len(memberships),
        status_counts=counts,
        role_slugs=sorted({slug for m in memberships for slug in m.role_slugs}),
        filters={"status": status, "role": role, "organization": organization, "sort": sort},
    )


def membership_for_row(pk: int) -> OrganizationMembership:
    """One membership, decorated like a row of the person page."""
    membership = memberships_with_roles().get(pk=pk)
    decorate_memberships([membership])
    return membership


def person_history(
    person: ProviderUser, viewer: Staff, limit: int = HISTORY_LIMIT
) -> list[AuditEvent]:
    """The latest audit events about a person, in the viewer's scope."""
    events = list(
        scoped(viewer, AuditEvent.objects.filter(user_external_id=person.external_id))[:limit]
    )
    describe_events(events)
    return events


def organization_history(org: Organization, limit: int = HISTORY_LIMIT) -> list[AuditEvent]:
    """The latest audit events within an organization."""
    events = list(AuditEvent.objects.filter(organization_external_id=org.external_id)[:limit])
    describe_events(events)
    return events


def organization_members(
    org: Organization, *, status: str = "", role: str = ""
) -> QuerySet[OrganizationMembership]:
    """An organization's members, optionally by status and role slug, in membership id order.

    Ordering by the person's email would sort every member of a large organization before
    taking a page; the membership id is served by the (organization[, status], id) indexes.
    """
    members = memberships_with_roles().filter(organization=org)
    if status:
        members = members.filter(status=status)
    if role:
        members = members.filter(
            pk__in=MembershipRole.objects.filter(organization=org, slug=role).values("membership")
        )
    return members.order_by("pk")


@dataclass(frozen=True, slots=True)
class MembersPage:
    """One keyset page of members, the cursors around it and a capped count."""

    members: list[OrganizationMembership]
    count: int
    count_capped: bool
    previous_cursor: int | None
    next_cursor: int | None
    first_page: bool


def members_page(
    members: QuerySet[OrganizationMembership],
    *,
    after: int | None = None,
    before: int | None = None,
    size: int = MEMBERS_PAGE_SIZE,
    cap: int = COUNT_CAP,
) -> MembersPage:
    """Members with ids above `after` (or just below `before`), `size` at a time.

    The count stops at `cap` so a 100,000-member organization is not counted in full.
    """
    count = members.order_by().values("pk")[: cap + 1].count()
    if before is not None:
        rows = list(members.filter(pk__lt=before).order_by("-pk")[: size + 1])
        more_before, rows = len(rows) > size, rows[:size][::-1]
        more_after = True
    else:
        if after is not None:
            members = members.filter(pk__gt=after)
        rows = list(members[: size + 1])
        more_after, rows = len(rows) > size, rows[:size]
        more_before = after is not None
    first = not more_before
    return MembersPage(
        members=rows,
        count=min(count, cap),
        count_capped=count > cap,
        previous_cursor=rows[0].pk if rows and more_before else None,
        next_cursor=rows[-1].pk if rows and more_after else None,
        first_page=first,
    )


def organization_roles(org: Organization) -> list[OrganizationRole]:
    """The roles of one organization, then environment-wide ones."""
    return roles_by_organization([org.pk])[org.pk]


REQUEST_RELATIONS = (
    "requested_by",
    "decided_by",
    "membership__organization",
    "membership__user",
    "provider_user",
    "organization",
)


def request_row(pk: int) -> ReactivationRequest:
    """One request with everything its row shows."""
    return ReactivationRequest.objects.select_related(*REQUEST_RELATIONS).get(pk=pk)


def visible_requests(user: Staff) -> QuerySet[ReactivationRequest]:
    """Requests a staff member works with, in their scope: every open one for managers, else
    their own."""
    requests = scoped(user, ReactivationRequest.objects.select_related(*REQUEST_RELATIONS))
    if user.has_perm(APPROVE_REQUESTS):
        return requests.open() | requests.filter(requested_by=user)
    return requests.filter(requested_by=user)


DECIDED_STATUSES = ("approved", "executed", "failed", "rejected", "expired", "cancelled")
DECISIONS_PAGE_SIZE = 50


def decided_requests(
    viewer: Staff,
    *,
    status: str = "",
    person: str = "",
    organization: str = "",
    requested_by: str = "",
    decided_by: str = "",
    before: int | None = None,
    size: int = DECISIONS_PAGE_SIZE,
) -> tuple[list[ReactivationRequest], int | None]:
    """Closed or decided requests in the viewer's scope, newest first, one keyset page and the
    cursor of the next (one query)."""
    requests = scoped(
        viewer,
        ReactivationRequest.objects.select_related(*REQUEST_RELATIONS).filter(
            status__in=[status] if status in DECIDED_STATUSES else DECIDED_STATUSES
        ),
    )
    if person:
        requests = requests.filter(
            Q(membership__user__email__icontains=person) | Q(provider_user__email__icontains=person)
        )
    if organization:
        requests = requests.filter(
            Q(membership__organization__name__icontains=organization)
            | Q(organization__name__icontains=organization)
        )
    if requested_by:
        requests = requests.filter(requested_by__username__icontains=requested_by)
    if decided_by:
        requests = requests.filter(decided_by__username__icontains=decided_by)
    if before is not None:
        requests = requests.filter(pk__lt=before)
    rows = list(requests.order_by("-pk")[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return rows, rows[-1].pk if more and rows else None


def pending_count(user: Staff) -> int:
    """The header badge: what a manager may decide (not their own), else one's own requests."""
    pending = scoped(user, ReactivationRequest.objects.pending())
    if user.has_perm(APPROVE_REQUESTS):
        return pending.exclude(requested_by=user).count()
    return pending.filter(requested_by=user).count()


def last_sync() -> SyncRun | None:
    """The most recent finished sync run."""
    return SyncRun.objects.exclude(finished_at=None).order_by("-finished_at").first()


@dataclass(frozen=True, slots=True)
class AuditFilters:
    """The audit log's filters, already validated."""

    actor: str = ""
    action: str = ""
    organization: str = ""
    person: str = ""
    outcome: str = ""
    since: date | None = None
    until: date | None = None
    # The console matches actor, person and organization by part of a name, in any case;
    # the API keeps exact matches.
    partial: bool = False


# A partial person or organization filter matches at most this many of them.
AUDIT_LOOKUP_LIMIT = 200


def people_matching(text: str) -> list[str]:
    """Provider user ids whose id is `text` or whose email contains it (any case)."""
    if ProviderUser.objects.filter(external_id=text).exists():
        return [text]
    found = ProviderUser.objects.filter(email__icontains=text).order_by("email")
    return list(found.values_list("external_id", flat=True)[:AUDIT_LOOKUP_LIMIT])


def organizations_matching(text: str) -> list[str]:
    """Organization ids whose id is `text` or whose name contains it (any case)."""
    if Organization.objects.filter(external_id=text).exists():
        return [text]
    found = Organization.objects.filter(name__icontains=text).order_by("name")
    return list(found.values_list("external_id", flat=True)[:AUDIT_LOOKUP_LIMIT])


def organization_names(viewer: Staff, limit: int = AUDIT_LOOKUP_LIMIT) -> list[str]:
    """Suggestions for the audit log's organization filter, from the viewer's scope."""
    names = scoped(viewer, Organization.objects.order_by("name")).values_list("name", flat=True)
    return list(names[:limit])


def resolve_person(person: str) -> str:
    """A provider user id from an email or an id."""
    if "@" not in person:
        return person
    found = (
        ProviderUser.objects.alias(email_l=Lower("email"))
        .filter(email_l=person.lower())
        .values_list("external_id", flat=True)
        .first()
    )
    return found or person


def audit_events(filters: AuditFilters, viewer: Staff) -> QuerySet[AuditEvent]:
    """Audit events in the viewer's scope matching the filters, newest first."""
    events = scoped(viewer, AuditEvent.objects.order_by("-sequence"))
    if filters.partial:
        events = _partial_matches(events, filters)
    else:
        events = _exact_matches(events, filters)
    if filters.action.endswith("*"):
        events = events.filter(prefix_filter("event_type", filters.action.rstrip("*")))
    elif filters.action:
        events = events.filter(event_type=filters.action)
    if filters.outcome:
        events = events.filter(outcome=filters.outcome)
    start = _start_of(filters.since) if filters.since else None
    end = _start_of(filters.until, days=1) if filters.until else None
    return occurred_between(events, start, end)


def _partial_matches(events: QuerySet[AuditEvent], filters: AuditFilters) -> QuerySet[AuditEvent]:
    if filters.actor:
        events = events.filter(actor_repr__icontains=filters.actor)
    if filters.organization:
        events = events.filter(
            organization_external_id__in=organizations_matching(filters.organization)
        )
    if filters.person:
        events = events.filter(user_external_id__in=people_matching(filters.person))
    return events


def _exact_matches(events: QuerySet[AuditEvent], filters: AuditFilters) -> QuerySet[AuditEvent]:
    if filters.actor:
        events = events.filter(actor_repr=filters.actor)
    if filters.organization:
        events = events.filter(organization_external_id=filters.organization)
    if filters.person:
        events = events.filter(user_external_id=resolve_person(filters.person))
    return events


def occurred_between(
    events: QuerySet[AuditEvent], start: datetime | None, end: datetime | None
) -> QuerySet[AuditEvent]:
    """Events at or after `start` and before `end`, bounded by sequence too.

    Events are appended in time order, so the occurred_at index finds the first and last
    sequence of the range (one query per bound); the sequence range lets the other filters'
    (field, -sequence) indexes serve the query instead of walking every newer event.
    """
    if start is not None:
        events = events.filter(occurred_at__gte=start)
        first = _edge_sequence(
            AuditEvent.objects.filter(occurred_at__gte=start), "occurred_at", "sequence"
        )
        if first is None:
            return events.none()
        events = events.filter(sequence__gte=first)
    if end is not None:
        events = events.filter(occurred_at__lt=end)
        last = _edge_sequence(
            AuditEvent.objects.filter(occurred_at__lt=end), "-occurred_at", "-sequence"
        )
        if last is None:
            return events.none()
        events = events.filter(sequence__lte=last)
    return events


def _edge_sequence(events: QuerySet[AuditEvent], *order: str) -> int | None:
    return events.order_by(*order).values_list("sequence", flat=True).first()


def _start_of(day: date, days: int = 0) -> datetime:
    start = datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())
    return start + timedelta(days=days)


@dataclass(frozen=True, slots=True)
class AuditPage:
    """One page of events and the cursor for the next, older page."""

    events: list[AuditEvent]
    next_cursor: int | None


def audit_page(
    filters: AuditFilters, viewer: Staff, *, before: int | None = None, size: int = AUDIT_PAGE_SIZE
) -> AuditPage:
    """Keyset pagination on sequence: events older than `before`."""
    events = audit_events(filters, viewer)
    if before is not None:
        events = events.filter(sequence__lt=before)
    rows = list(events[: size + 1])
    next_cursor = rows[size - 1].sequence if len(rows) > size else None
    return AuditPage(rows[:size], next_cursor)


def request_target_state(request: ReactivationRequest) -> dict[str, Any]:
    """The target's label, link and current status, from preloaded relations."""
    if request.membership_id:
        m = request.membership
        return {"label": f"{m.user.email} in {m.organization.name}", "status": m.status, "obj": m}
    if request.provider_user_id:
        return {
            "label": request.provider_user.email,
            "status": request.provider_user.status,
            "obj": request.provider_user,
        }
    return {
        "label": request.organization.name,
        "status": request.organization.status,
        "obj": request.organization,
    }

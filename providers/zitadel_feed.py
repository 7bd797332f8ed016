"""ZITADEL's change feed: the admin API's event search (ListEvents), read as mirrored records.

ZITADEL's events are deltas on an aggregate (`user.deactivated` carries no user), so each
page's changed aggregates are read back as they are now, a few batched requests per page:
applying a record's current state twice changes nothing. The same reading serves the Actions
v2 event webhooks, which name one aggregate and its sequence.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from providers import zitadel_wire as wire
from providers.base import Change, ChangePage, Membership, Organization, Role, User
from providers.errors import ProviderFeedExpired, ProviderNotFound, ProviderUnreadable

if TYPE_CHECKING:
    from providers.zitadel import ZitadelProvider

EVENTS = "/admin/v1/events/_search"
AUTHZ = "/zitadel.authorization.v2.AuthorizationService/ListAuthorizations"
# The aggregates whose events change what Karmo mirrors, and the record kind each one is.
AGGREGATES = {"user": "user", "org": "organization", "usergrant": "membership", "project": "role"}
PAGE = 500

Item = Organization | User | Membership | Role
Event = tuple[str, str, object, str]  # aggregate type, aggregate id, sequence, creation date


def event_id(aggregate_type: str, aggregate_id: str, sequence: object) -> str:
    """One event's id, the same whether the feed or a webhook brings it."""
    return f"zitadel:{aggregate_type}:{aggregate_id}:{sequence}"


def _events(data: Any) -> list[dict[str, Any]]:
    events = data.get("events") if isinstance(data, dict) else None
    if not isinstance(events, list):
        raise ProviderUnreadable("zitadel sent an unreadable event list")
    return events


def latest_change_cursor(provider: ZitadelProvider) -> str | None:
    """The newest relevant event's sequence, None while there is none."""
    body = {"aggregateTypes": list(AGGREGATES), "asc": False, "limit": 1}
    events = _events(provider.call(EVENTS, body, idempotent=True).data)
    return str(_sequence(events[0])) if events else None


def read_changes(provider: ZitadelProvider, cursor: str | None) -> ChangePage:
    """The changes after `cursor` (a sequence), oldest first.

    The search starts at the cursor's own event: when it is no longer there the log has a
    gap (a pruned or restored instance) and ProviderFeedExpired says so.
    """
    after = int(cursor or 0)
    body = {
        "aggregateTypes": list(AGGREGATES),
        "asc": True,
        "limit": PAGE + 1,
        "sequence": str(max(after - 1, 0)),
    }
    events = _events(provider.call(EVENTS, body, idempotent=True).data)
    if after:
        if not events or _sequence(events[0]) != after:
            raise ProviderFeedExpired(f"zitadel has no event {after} any more: the log has a gap")
        events = events[1:]
    found, unreadable = [], []
    for index, event in enumerate(events):
        try:
            found.append(_event(event))
        except ProviderUnreadable as exc:
            unreadable.append(f"zitadel event {index + 1} of the page: {exc.message}")
    last = str(_sequence(events[-1])) if events else cursor  # the cursor must get past it
    changes = _changes_passing_over(provider, found, unreadable)
    return ChangePage(changes, cursor=last, more=len(events) >= PAGE, unreadable=unreadable)


def _changes_passing_over(
    provider: ZitadelProvider, events: list[Event], unreadable: list[str]
) -> list[Change]:
    """The events' changes; when a record cannot be read, each event's record is read on its
    own and the unreadable ones are passed over (noted in `unreadable`), or one record would
    hold the feed back for good."""
    try:
        return changes_of(provider, events)
    except ProviderUnreadable:
        changes = []
        for event in events:
            try:
                changes.extend(changes_of(provider, [event]))
            except ProviderUnreadable as exc:
                unreadable.append(f"zitadel event {event_id(*event[:3])}: {exc.message}")
        return changes


@wire.readable_answer
def _event(event: dict[str, Any]) -> Event:
    aggregate = event["aggregate"]
    found = (aggregate["type"]["type"], aggregate["id"], _sequence(event), event["creationDate"])
    if not all(isinstance(part, str) for part in (found[0], found[1], found[3])):
        raise TypeError("an aggregate type, id or creation date is not text")
    return found


@wire.readable_answer
def _sequence(event: dict[str, Any]) -> int:
    return int(event["sequence"])


def changes_of(provider: ZitadelProvider, events: Iterable[Event]) -> list[Change]:
    """Changes for (aggregate type, aggregate id, sequence, creation date) events, each with
    its record as it is now (None when it is gone)."""
    events = [event for event in events if event[0] in AGGREGATES]
    wanted: dict[str, set[str]] = {kind: set() for kind in AGGREGATES}
    for aggregate_type, aggregate_id, _, _ in events:
        wanted[aggregate_type].add(aggregate_id)
    now = {
        "user": _users(provider, wanted["user"]),
        "org": _organizations(provider, wanted["org"]),
        "usergrant": _memberships(provider, wanted["usergrant"]),
    }
    roles = list(provider.list_roles()) if wanted["project"] and provider.project_id else []
    changes: list[Change] = []
    for aggregate_type, aggregate_id, sequence, created in events:
        key = event_id(aggregate_type, aggregate_id, sequence)
        if aggregate_type == "project":
            changes.extend(
                Change(f"{key}/{role.id}", "role", role.id, role, created) for role in roles
            )
            continue
        item = now[aggregate_type].get(aggregate_id)
        changes.append(Change(key, AGGREGATES[aggregate_type], aggregate_id, item, created))
    return changes


def _users(provider: ZitadelProvider, ids: set[str]) -> dict[str, Item]:
    if not ids:
        return {}
    query = {"queries": [{"inUserIdsQuery": {"userIds": sorted(ids)}}]}
    return {user.id: user for user in map(wire.user, provider.pages("/v2/users", query))}


def _organizations(provider: ZitadelProvider, ids: set[str]) -> dict[str, Item]:
    found: dict[str, Item] = {}
    for organization_id in sorted(ids):
        try:
            found[organization_id] = provider.get_organization(organization_id)
        except ProviderNotFound:
            continue
    return found


def _memberships(provider: ZitadelProvider, ids: set[str]) -> dict[str, Item]:
    if not ids:
        return {}
    body = {"filters": [{"authorizationIds": {"ids": sorted(ids)}}]}
    grants = [wire.membership(grant) for grant in provider.pages(AUTHZ, body, "authorizations")]
    users = {grant.user_id for grant in grants}
    invited = set()
    if users:
        query = {"queries": [{"inUserIdsQuery": {"userIds": sorted(users)}}, wire.INITIAL_USERS]}
        invited = {user.id for user in map(wire.user, provider.pages("/v2/users", query))}
    return {
        grant.id: replace(
            grant, status=wire.membership_state(grant.raw_status, invited=grant.user_id in invited)
        )
        for grant in grants
    }

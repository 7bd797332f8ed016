"""ZITADEL's change feed: the admin API's event search (ListEvents), read as mirrored records.

ZITADEL's events are deltas on an aggregate (`user.deactivated` carries no user), so each
page's changed aggregates are read back as they are now, a few batched requests per page:
applying a record's current state twice changes nothing. The same reading serves the Actions
v2 event webhooks, which name one aggregate and its sequence.
"""

from __future__ import annotations

from collections.abc import Iterable
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
    return str(events[0]["sequence"]) if events else None


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
        if not events or int(events[0]["sequence"]) != after:
            raise ProviderFeedExpired(f"zitadel has no event {after} any more: the log has a gap")
        events = events[1:]
    found = [
        (e["aggregate"]["type"]["type"], e["aggregate"]["id"], e["sequence"], e["creationDate"])
        for e in events
    ]
    last = str(events[-1]["sequence"]) if events else cursor
    return ChangePage(changes=changes_of(provider, found), cursor=last, more=len(events) >= PAGE)


def changes_of(
    provider: ZitadelProvider, events: Iterable[tuple[str, str, object, str]]
) -> list[Change]:
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
    return {item["userId"]: wire.user(item) for item in provider.pages("/v2/users", query)}


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
    grants = list(provider.pages(AUTHZ, body, "authorizations"))
    users = {grant["user"]["id"] for grant in grants}
    invited = set()
    if users:
        query = {"queries": [{"inUserIdsQuery": {"userIds": sorted(users)}}, wire.INITIAL_USERS]}
        invited = {item["userId"] for item in provider.pages("/v2/users", query)}
    return {
        grant["id"]: wire.membership(grant, invited=grant["user"]["id"] in invited)
        for grant in grants
    }

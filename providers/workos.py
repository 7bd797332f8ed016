"""The WorkOS adapter: organizations, AuthKit users, memberships and organization roles."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import httpx

from providers.base import (
    Capability,
    Change,
    ChangePage,
    Membership,
    Organization,
    Result,
    Role,
    Status,
    User,
    readable,
    reads_answers_safely,
)
from providers.budget import Budget
from providers.errors import (
    ProviderAPIError,
    ProviderConflict,
    ProviderFeedExpired,
    ProviderNotFound,
    ProviderRejected,
    ProviderUnreadable,
    ProviderUnsupported,
    error_for_status,
)
from providers.fanout import fan_out
from providers.http import ProviderHTTP, RetryPolicy

DEFAULT_BASE_URL = "https://api.workos.com"
PAGE_SIZE = 100
ALL_STATUSES = "active,inactive,pending"
MEMBERSHIPS = "/user_management/organization_memberships"
# WorkOS answers 400 for these; they are state preconditions, not malformed requests.
PRECONDITION_CODES = frozenset(
    {
        "cannot_reactivate_pending_organization_membership",
        "cannot_deactivate_pending_organization_membership",
        "organization_membership_already_exists",
    }
)
# The Events API's types for what Karmo mirrors, and the mirrored noun each one changes.
EVENT_KINDS = {
    "organization": "organization",
    "user": "user",
    "organization_membership": "membership",
    "organization_role": "role",
    "role": "role",
}
EVENT_TYPES = ",".join(
    f"{noun}.{verb}" for noun in EVENT_KINDS for verb in ("created", "updated", "deleted")
)
UNSUPPORTED: dict[Capability, str] = {
    Capability.ACTIVATE_USER: "WorkOS users have no status; access is switched per membership.",
    Capability.DEACTIVATE_USER: "WorkOS users have no status; access is switched per membership.",
    Capability.REACTIVATE_ORGANIZATION: "WorkOS organizations cannot be deactivated, only deleted.",
    Capability.DEACTIVATE_ORGANIZATION: "WorkOS organizations cannot be deactivated, only deleted.",
}


def parse_error(response: httpx.Response, body: Any) -> ProviderAPIError:
    """Map WorkOS's `{"code", "message"[, "errors"]}` body (or OAuth-style keys) to an error."""
    data = body if isinstance(body, dict) else {}
    code = str(data.get("code") or data.get("error") or "")
    message = str(
        data.get("message") or data.get("error_description") or response.reason_phrase or code
    )
    if errors := data.get("errors"):
        fields = ", ".join(
            f"{e.get('field')}: {e.get('code')}" for e in errors if isinstance(e, dict)
        )
        message = f"{message} ({fields})" if fields else message
    error_class = ProviderConflict if code in PRECONDITION_CODES else None
    return (error_class or error_for_status(response.status_code))(
        message,
        status_code=response.status_code,
        code=code,
        request_id=response.headers.get("x-request-id", ""),
        body=body,
    )


@reads_answers_safely
class WorkOSProvider:
    """The Provider protocol over WorkOS's REST API."""

    name: ClassVar[str] = "workos"
    capabilities = frozenset(Capability) - frozenset(UNSUPPORTED)
    unsupported_reasons = UNSUPPORTED

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        budget: Budget | None = None,
        concurrency: int = 4,
    ) -> None:
        self.concurrency = max(1, concurrency)
        self.http = ProviderHTTP(
            base_url=base_url or DEFAULT_BASE_URL,
            provider=self.name,
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            timeout=timeout,
            retry=retry,
            error_parser=parse_error,
            transport=transport,
            budget=budget,
            connections=self.concurrency + 2,
        )

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self.http.close()

    # Listing ----------------------------------------------------------------------------

    def _pages(
        self, path: str, params: Mapping[str, str] | None = None, *, paginated: bool = True
    ) -> Iterator[dict]:
        """Every object of a list, fetched lazily page by page when it is cursor-paginated."""
        for page in self._page_lists(path, params, paginated=paginated):
            yield from page

    def _page_lists(
        self, path: str, params: Mapping[str, str] | None = None, *, paginated: bool = True
    ) -> Iterator[list[dict]]:
        """A list's pages, one request each, following the `after` cursor."""
        query = {"limit": str(PAGE_SIZE), "order": "desc"} if paginated else {}
        query.update(params or {})
        while True:
            answer = self.http.request("GET", path, params=query)
            data = answer.data if isinstance(answer.data, dict) else {}
            items, metadata = data.get("data"), data.get("list_metadata") or {}
            if not isinstance(items, list) or not isinstance(metadata, dict):
                raise ProviderUnreadable(
                    f"workos sent an unreadable list from {path}", request_id=answer.request_id
                )
            yield items
            after = metadata.get("after")
            if not after or not items:
                return
            query["after"] = after

    def list_organizations(self) -> Iterator[Organization]:
        """Every organization."""
        return (_organization(o) for o in self._pages("/organizations"))

    def list_users(self) -> Iterator[User]:
        """Every AuthKit user, read from both ends of the list at once.

        The user list is the sync's longest cursor chain; two chains, oldest-first and
        newest-first, meet in the middle in half the time, for at most two pages more.
        """
        meeting = _Meeting()
        chains = [functools.partial(self._users_from, order, meeting) for order in ("asc", "desc")]
        return fan_out(chains, 2, urgent=True)

    def _users_from(self, order: str, meeting: _Meeting) -> Iterator[list[User]]:
        for page in self._page_lists("/user_management/users", {"order": order}):
            kept, met = meeting.claim(order == "asc", page)
            yield [_user(u) for u in kept]
            if met:
                return

    def list_memberships(self) -> Iterator[Membership]:
        """Every membership in every status; organizations' lists are read concurrently."""
        chains = (
            functools.partial(self._memberships_of, org.id) for org in self.list_organizations()
        )
        return fan_out(chains, self.concurrency)

    def _memberships_of(self, organization_id: str) -> Iterator[list[Membership]]:
        params = {"organization_id": organization_id, "statuses": ALL_STATUSES}
        for page in self._page_lists(MEMBERSHIPS, params):
            yield [_membership(m) for m in page]

    def list_roles(self) -> Iterator[Role]:
        """Environment roles once, then each organization's own roles (read concurrently)."""
        for role in self._pages("/authorization/roles", paginated=False):
            yield _role(role, "")
        chains = (functools.partial(self._roles_of, org.id) for org in self.list_organizations())
        yield from fan_out(chains, self.concurrency)

    def _roles_of(self, organization_id: str) -> Iterator[list[Role]]:
        for page in self._page_lists(_roles_path(organization_id), paginated=False):
            yield [_role(d, organization_id) for d in page if d["type"] == "OrganizationRole"]

    def get_organization(self, organization_id: str) -> Organization:
        """One organization by id."""
        return _organization(self.http.request("GET", f"/organizations/{organization_id}").data)

    def get_user(self, user_id: str) -> User:
        """One user by id."""
        return _user(self.http.request("GET", f"/user_management/users/{user_id}").data)

    def get_membership(self, membership_id: str) -> Membership:
        """One membership by id."""
        return _membership(self.http.request("GET", f"{MEMBERSHIPS}/{membership_id}").data)

    # Event feed -------------------------------------------------------------------------

    def latest_change_cursor(self) -> str | None:
        """The newest event's id (the feed resumes after it), None while the log is empty."""
        query = {"events": EVENT_TYPES, "order": "desc", "limit": "1"}
        data = self.http.request("GET", "/events", params=query).data
        events = data.get("data") if isinstance(data, dict) else None
        if not isinstance(events, list):
            raise ProviderUnreadable("workos sent an unreadable event list")
        return events[0]["id"] if events else None

    def read_changes(self, cursor: str | None) -> ChangePage:
        """One page of events after `cursor` (oldest first); raises ProviderFeedExpired when
        the cursor's event is no longer kept (WorkOS keeps events 30 days)."""
        query = {"events": EVENT_TYPES, "order": "asc", "limit": str(PAGE_SIZE)}
        if cursor:
            query["after"] = cursor
        try:
            answer = self.http.request("GET", "/events", params=query)
        except ProviderRejected as exc:
            if cursor and "invalid_pagination_cursor" in exc.message:
                raise ProviderFeedExpired(
                    f"workos no longer has event {cursor}", request_id=exc.request_id
                ) from exc
            raise
        data = answer.data if isinstance(answer.data, dict) else {}
        events = data.get("data")
        if not isinstance(events, list):
            raise ProviderUnreadable("workos sent an unreadable event list")
        changes, unreadable = [], []
        for event in events:
            try:
                change = event_change(event)
            except ProviderUnreadable as exc:
                unreadable.append(f"workos event {_event_id(event)}: {exc.message}")
                continue
            if change is not None:
                changes.append(change)
        last = _event_id(events[-1]) if events else cursor
        if events and not last:
            raise ProviderUnreadable("workos sent an event without an id")
        more = bool((data.get("list_metadata") or {}).get("after")) and bool(events)
        return ChangePage(changes=changes, cursor=last, more=more, unreadable=unreadable)

    # Changes ----------------------------------------------------------------------------

    def reactivate_membership(self, membership: Membership) -> Result[Membership]:
        """inactive -> active keeping its roles; already active is a no-op."""
        return self._transition(membership.id, Status.ACTIVE, "reactivate")

    def deactivate_membership(self, membership: Membership) -> Result[Membership]:
        """active -> inactive; already inactive is a no-op."""
        return self._transition(membership.id, Status.INACTIVE, "deactivate")

    def _transition(self, membership_id: str, target: Status, verb: str) -> Result[Membership]:
        current = self.http.request("GET", f"{MEMBERSHIPS}/{membership_id}")
        if (found := _membership(current.data)).status == target:
            return Result(found, current.request_id, changed=False)
        answer = self.http.request("PUT", f"{MEMBERSHIPS}/{membership_id}/{verb}")
        return Result(_membership(answer.data), answer.request_id)

    def set_membership_roles(
        self, membership: Membership, roles: tuple[str, ...]
    ) -> Result[Membership]:
        """Replace the membership's role set."""
        path = f"{MEMBERSHIPS}/{membership.id}"
        current = self.http.request("GET", path)
        if (found := _membership(current.data)).roles == tuple(roles):
            return Result(found, current.request_id, changed=False)
        answer = self.http.request("PUT", path, json={"role_slugs": list(roles)})
        return Result(_membership(answer.data), answer.request_id)

    def upsert_organization_role(
        self, organization_id: str, slug: str, name: str, description: str = ""
    ) -> Result[Role]:
        """Create the organization role, or update its name and description."""
        path = _roles_path(organization_id)
        try:
            current = self.http.request("GET", f"{path}/{slug}")
        except ProviderNotFound:
            body = {"slug": slug, "name": name, "description": description or None}
            try:
                answer = self.http.request("POST", path, json=body)
            except ProviderConflict:
                pass  # Created concurrently; fall through to update it.
            else:
                return Result(_role(answer.data, organization_id), answer.request_id)
        else:
            role = _role(current.data, organization_id)
            if current.data.get("type") != "OrganizationRole":
                raise ProviderConflict(
                    f"{slug} is an environment role, not an organization role",
                    code="environment_role",
                    request_id=current.request_id,
                )
            if (role.name, role.description) == (name, description):
                return Result(role, current.request_id, changed=False)
        changes = {"name": name, "description": description or None}
        answer = self.http.request("PATCH", f"{path}/{slug}", json=changes, idempotent=True)
        return Result(_role(answer.data, organization_id), answer.request_id)

    def create_user(self, email: str, first_name: str = "", last_name: str = "") -> Result[User]:
        """Create an AuthKit user (not retried once sent: a create is not idempotent)."""
        body = {"email": email, "first_name": first_name or None, "last_name": last_name or None}
        answer = self.http.request("POST", "/user_management/users", json=body)
        return Result(_user(answer.data), answer.request_id)

    def activate_user(self, user_id: str) -> Result[User]:
        """Unsupported: WorkOS users have no status."""
        raise ProviderUnsupported(UNSUPPORTED[Capability.ACTIVATE_USER])

    def deactivate_user(self, user_id: str) -> Result[User]:
        """Unsupported: WorkOS users have no status."""
        raise ProviderUnsupported(UNSUPPORTED[Capability.DEACTIVATE_USER])

    def reactivate_organization(self, organization_id: str) -> Result[Organization]:
        """Unsupported: WorkOS organizations are only ever deleted."""
        raise ProviderUnsupported(UNSUPPORTED[Capability.REACTIVATE_ORGANIZATION])

    def deactivate_organization(self, organization_id: str) -> Result[Organization]:
        """Unsupported: WorkOS organizations are only ever deleted."""
        raise ProviderUnsupported(UNSUPPORTED[Capability.DEACTIVATE_ORGANIZATION])


class _Meeting:
    """Where an ascending and a descending read of one list have got to.

    Lists are ordered by creation time (then id); each chain keeps only the items the other
    has not passed yet, and stops at the first item the other already returned.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ascending_reached: tuple[str, str] = ("", "")
        self._descending_reached: tuple[str, str] = ("\uffff", "")

    def claim(self, ascending: bool, page: list[dict[str, Any]]) -> tuple[list[dict], bool]:
        """The page's items still unread by the other chain, and whether the chains met."""
        with self._lock:
            if ascending:
                kept = [i for i in page if _order_key(i) < self._descending_reached]
                if kept:
                    self._ascending_reached = _order_key(kept[-1])
            else:
                kept = [i for i in page if _order_key(i) > self._ascending_reached]
                if kept:
                    self._descending_reached = _order_key(kept[-1])
        return kept, len(kept) < len(page)


def _order_key(item: dict[str, Any]) -> tuple[str, str]:
    return (str(item.get("created_at") or ""), str(item.get("id") or ""))


def _event_id(event: Any) -> str:
    found = event.get("id") if isinstance(event, dict) else None
    return found if isinstance(found, str) else ""


def event_change(event: dict[str, Any]) -> Change | None:
    """The mirrored record an Events API (or webhook) event changes; None for other events."""
    if not isinstance(event, dict):
        raise ProviderUnreadable("workos sent an event that is not an object")
    noun, _, verb = str(event.get("event", "")).rpartition(".")
    kind = EVENT_KINDS.get(noun)
    data = event.get("data")
    if kind is None or not isinstance(data, dict):
        return None
    converted = _event_item(kind, data)
    removed = verb == "deleted"
    return Change(
        event_id=str(event.get("id", "")),
        kind=kind,
        external_id=converted.id,
        item=None if removed else converted,
        occurred_at=str(event.get("created_at", "")),
    )


def _event_item(kind: str, data: dict[str, Any]) -> Organization | User | Membership | Role:
    if kind == "organization":
        return _organization(data)
    if kind == "user":
        return _user(data)
    if kind == "membership":
        return _membership(data)
    return _role(data, data.get("organization_id") or "")


_readable = functools.partial(readable, "workos")


def _roles_path(organization_id: str) -> str:
    return f"/authorization/organizations/{organization_id}/roles"


@_readable
def _organization(data: dict[str, Any]) -> Organization:
    return Organization(id=data["id"], name=data["name"])


@_readable
def _user(data: dict[str, Any]) -> User:
    return User(
        id=data["id"],
        email=data["email"],
        first_name=data.get("first_name") or "",
        last_name=data.get("last_name") or "",
        email_verified=bool(data.get("email_verified")),
    )


def _slugs(data: dict[str, Any]) -> tuple[str, ...]:
    roles = data.get("roles") or ([data["role"]] if data.get("role") else [])
    return tuple(role["slug"] for role in roles)


@_readable
def _membership(data: dict[str, Any]) -> Membership:
    return Membership(
        id=data["id"],
        organization_id=data["organization_id"],
        user_id=data["user_id"],
        status=Status(data["status"]),
        raw_status=data["status"],
        roles=_slugs(data),
    )


@_readable
def _role(data: dict[str, Any], organization_id: str) -> Role:
    return Role(
        id=data["id"],
        slug=data["slug"],
        name=data["name"],
        organization_id=organization_id,
        description=data.get("description") or "",
    )

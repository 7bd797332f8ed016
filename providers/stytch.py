"""The Stytch B2B adapter: organizations, members and RBAC roles over Stytch's REST API.

Stytch B2B has no project-wide user: a Member belongs to exactly one Organization and is at
once the person and their membership. The adapter therefore maps each member to a `User`
*and* a `Membership` sharing one id (the `member_id`); someone in two organizations is two
users here, as they are two members at Stytch. Member status is the membership status:
`deleted` is inactive, `pending` and `invited` are pending. `stytch_member`, the role every
member holds implicitly, is left out of a membership's roles.

Stytch roles carry a `role_id` and one free-text `description`; a role's name is the
description's first line and its description the rest. Organization roles are Stytch's
org-scoped custom roles (a private beta; the org policy is replaced as a whole, so an upsert
reads, changes and writes it back), with ids `<organization_id>:<role_id>`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from providers.base import (
    Capability,
    Change,
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
    ProviderNotConfigured,
    ProviderNotFound,
    ProviderUnreadable,
    ProviderUnsupported,
    error_for_status,
)
from providers.fanout import fan_out
from providers.http import Answer, ProviderHTTP, RetryPolicy
from providers.spool import Tee

BASE_URLS = {"test": "https://test.stytch.com", "live": "https://api.stytch.com"}
PAGE_SIZE = 1000
ORGANIZATIONS_PER_SEARCH = 100
ALL_STATUSES = ["active", "invited", "pending", "deleted"]
STATUS = {"active": Status.ACTIVE, "deleted": Status.INACTIVE}
IMPLICIT_ROLE = "stytch_member"
NAME_MAX = 64
# Stytch rate-limits in fixed windows and sends no Retry-After; wait out one window.
RATE_LIMIT_WAIT = "1"
# Stytch answers these with 400, but they are about the member's state, not a bad request.
PRECONDITION_ERRORS = {
    "no_deleted_member_found_for_reactivation": "Stytch reactivates only deleted members.",
    "email_unverified_for_reactivation": (
        "Stytch reactivates only members with a verified email; this member's is unverified."
    ),
    "reactivation_email_belongs_to_another_member": "Another member now uses this email.",
    "action_available_only_for_active_members": "The member is not active.",
}
_NO_USER = "Stytch B2B has no user outside an organization: a member is both user and membership"
UNSUPPORTED: dict[Capability, str] = {
    Capability.ACTIVATE_USER: f"{_NO_USER}, so reactivate the membership instead.",
    Capability.DEACTIVATE_USER: f"{_NO_USER}, so deactivate the membership instead.",
    Capability.CREATE_USER: f"{_NO_USER}; members are created inside a chosen organization.",
    Capability.REACTIVATE_ORGANIZATION: "Stytch organizations have no status; only delete.",
    Capability.DEACTIVATE_ORGANIZATION: "Stytch organizations have no status; only delete.",
}


def parse_error(response: httpx.Response, body: Any) -> ProviderAPIError:
    """Map Stytch's `{status_code, request_id, error_type, error_message}` body to an error."""
    data = body if isinstance(body, dict) else {}
    code = str(data.get("error_type") or data.get("error") or "")
    message = str(
        data.get("error_message") or data.get("error_description") or response.reason_phrase
    )
    if code in PRECONDITION_ERRORS:
        error_class: type[ProviderAPIError] = ProviderConflict
        message = f"{PRECONDITION_ERRORS[code]} ({code})"
    elif code in {"member_not_found", "organization_not_found"}:
        error_class = ProviderNotFound
    else:
        error_class = error_for_status(response.status_code)
    return error_class(
        message,
        status_code=response.status_code,
        code=code,
        request_id=str(data.get("request_id") or ""),
        body=body,
    )


def base_url_for(environment: str, project_id: str) -> str:
    """Stytch's API host for a `test` or `live` project."""
    if environment not in BASE_URLS:
        raise ProviderNotConfigured("STYTCH_ENVIRONMENT must be 'test' or 'live'")
    other = "live" if environment == "test" else "test"
    if project_id.startswith(f"project-{other}-"):
        raise ProviderNotConfigured(
            f"STYTCH_ENVIRONMENT is {environment!r} but the project id is a {other} project"
        )
    return BASE_URLS[environment]


def _rate_limit_wait(response: httpx.Response) -> None:
    if response.status_code == 429 and "retry-after" not in response.headers:
        response.headers["Retry-After"] = RATE_LIMIT_WAIT


@reads_answers_safely
class StytchProvider:
    """The Provider protocol over Stytch B2B (HTTP Basic with project id and secret)."""

    name: ClassVar[str] = "stytch"
    capabilities = frozenset(Capability) - frozenset(UNSUPPORTED)
    unsupported_reasons = UNSUPPORTED

    def __init__(
        self,
        *,
        project_id: str,
        secret: str,
        environment: str = "test",
        base_url: str = "",
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        page_size: int = PAGE_SIZE,
        transport: httpx.BaseTransport | None = None,
        budget: Budget | None = None,
        concurrency: int = 4,
    ) -> None:
        self.page_size = page_size
        self.concurrency = max(1, concurrency)
        self._unread_members: Tee | None = None
        self.http = ProviderHTTP(
            base_url=base_url or base_url_for(environment, project_id),
            provider=self.name,
            auth=(project_id, secret),
            timeout=timeout,
            retry=retry,
            error_parser=parse_error,
            transport=transport,
            budget=budget,
            connections=self.concurrency + 2,
        )
        self.http.client.event_hooks = {"request": [], "response": [_rate_limit_wait]}

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self.http.close()

    def list_organizations(self) -> Iterator[Organization]:
        """Every organization, page by page."""
        return self._organizations(_organization)

    def list_users(self) -> Iterator[User]:
        """One user per member of every organization, deleted members included.

        A member is both a user and a membership, so a list_memberships called before this
        list is read shares its read (the sync's case): the members are read once, not twice.
        """
        tee = Tee(self._member_pages)
        self._unread_members = tee
        pages = tee.attach()
        assert pages is not None  # a new tee has not started
        return (user for page in pages for user, _ in page)

    def list_memberships(self) -> Iterator[Membership]:
        """One membership per member of every organization, deleted members included."""
        tee, self._unread_members = self._unread_members, None
        pages = tee.attach() if tee is not None else None
        return (membership for page in pages or self._member_pages() for _, membership in page)

    def list_roles(self) -> Iterator[Role]:
        """The project's roles, then each organization's custom roles."""
        policy = self._call("GET", "/v1/b2b/rbac/policy").data.get("policy") or {}
        for role in policy.get("roles") or []:
            yield _role(role, "")
        for roles in self._organizations(_custom_roles):
            yield from roles

    def get_organization(self, organization_id: str) -> Organization:
        """One organization by id."""
        path = f"/v1/b2b/organizations/{_seg(organization_id)}"
        return _organization(self._call("GET", path).data["organization"])

    def get_user(self, user_id: str) -> User:
        """The member with this id, seen as a user."""
        return _user(self._member(user_id))

    def get_membership(self, membership_id: str) -> Membership:
        """The member with this id, seen as a membership."""
        return _membership(self._member(membership_id))

    def reactivate_membership(self, membership: Membership) -> Result[Membership]:
        """Reactivate a deleted member; Stytch refuses any other status and unverified emails."""
        # Not retried once sent: a repeat after a lost answer would meet "no deleted member".
        answer = self._call(
            "PUT", f"{_member_path(membership)}/reactivate", json={}, idempotent=False
        )
        return Result(_membership(answer.data["member"]), answer.request_id)

    def deactivate_membership(self, membership: Membership) -> Result[Membership]:
        """Delete (deactivate) a member; a member already deleted is left as it is."""
        try:
            answer = self._call("DELETE", _member_path(membership))
        except ProviderNotFound:
            current = _membership(self._member(membership.id))
            if current.status != Status.INACTIVE:
                raise
            return Result(current, changed=False)
        deleted = replace(membership, status=Status.INACTIVE, raw_status="deleted")
        return Result(deleted, answer.request_id)

    def set_membership_roles(
        self, membership: Membership, roles: tuple[str, ...]
    ) -> Result[Membership]:
        """Replace the member's explicitly assigned roles; implicit ones stay."""
        answer = self._call("PUT", _member_path(membership), json={"roles": list(roles)})
        updated = _membership(answer.data["member"])
        return Result(updated, answer.request_id, set(updated.roles) != set(membership.roles))

    def upsert_organization_role(
        self, organization_id: str, slug: str, name: str, description: str = ""
    ) -> Result[Role]:
        """Create or update an org-scoped custom role, keeping the org's other roles."""
        path = f"/v1/b2b/rbac/organizations/{_seg(organization_id)}"
        roles = self._call("GET", path).data["org_policy"]["roles"]
        text = f"{name}\n{description}" if description else name
        current = next((r for r in roles if r["role_id"] == slug), None)
        if current is not None and current.get("description") == text:
            return Result(_role(current, organization_id), changed=False)
        wanted = {
            "role_id": slug,
            "description": text,
            "permissions": current["permissions"] if current else [],
        }
        roles = [wanted if r["role_id"] == slug else r for r in roles]
        if current is None:
            roles.append(wanted)
        answer = self._call("PUT", path, json={"org_policy": {"roles": roles}})
        saved = next(r for r in answer.data["org_policy"]["roles"] if r["role_id"] == slug)
        return Result(_role(saved, organization_id), answer.request_id)

    def create_member(
        self, organization_id: str, email: str, name: str = "", roles: tuple[str, ...] = ()
    ) -> Result[Membership]:
        """Create a member of one organization (Stytch's way of adding a person)."""
        path = f"/v1/b2b/organizations/{_seg(organization_id)}/members"
        body = {"email_address": email, "name": name, "roles": list(roles)}
        answer = self._call("POST", path, json=body)
        return Result(_membership(answer.data["member"]), answer.request_id)

    def activate_user(self, user_id: str) -> Result[User]:
        raise ProviderUnsupported(UNSUPPORTED[Capability.ACTIVATE_USER])

    def deactivate_user(self, user_id: str) -> Result[User]:
        raise ProviderUnsupported(UNSUPPORTED[Capability.DEACTIVATE_USER])

    def create_user(self, email: str, first_name: str = "", last_name: str = "") -> Result[User]:
        raise ProviderUnsupported(UNSUPPORTED[Capability.CREATE_USER])

    def reactivate_organization(self, organization_id: str) -> Result[Organization]:
        raise ProviderUnsupported(UNSUPPORTED[Capability.REACTIVATE_ORGANIZATION])

    def deactivate_organization(self, organization_id: str) -> Result[Organization]:
        raise ProviderUnsupported(UNSUPPORTED[Capability.DEACTIVATE_ORGANIZATION])

    def _call(self, method: str, path: str, **options: Any) -> Answer:
        """One call; Stytch puts the request id in the body, not in a header."""
        answer = self.http.request(method, path, **options)
        if not isinstance(data := answer.data, dict):
            raise ProviderUnreadable("stytch sent an unreadable answer: not an object")
        return Answer(data, answer.status_code, str(data.get("request_id") or ""))

    def _organizations[T](self, read: Callable[[dict[str, Any]], T]) -> Iterator[T]:
        """Every organization through `read`, which takes what the caller needs from each."""
        for wrapped in self._search_pages(
            "/v1/b2b/organizations/search", {}, "organizations", read
        ):
            yield from wrapped[0]

    def _member_pages(self) -> Iterator[list[tuple[User, Membership]]]:
        """Pages of members, each as a (user, membership) pair; each search over 100
        organizations is its own cursor chain, and the chains are read concurrently."""
        ids = list(self._organizations(_organization_id))
        statuses = {"filter_name": "statuses", "filter_value": ALL_STATUSES}
        query = {"operator": "AND", "operands": [statuses]}
        chains = (
            functools.partial(
                self._member_chain,
                {"organization_ids": ids[start : start + ORGANIZATIONS_PER_SEARCH], "query": query},
            )
            for start in range(0, len(ids), ORGANIZATIONS_PER_SEARCH)
        )
        # fan_out hands over items: each page goes as one item, so pages stay whole.
        return fan_out(chains, self.concurrency)

    def _member_chain(self, body: dict[str, Any]) -> Iterator[list[list[tuple[User, Membership]]]]:
        # Read into records by the reading thread: a page of raw members takes several
        # times the memory, and pages wait in the fan-out's queue and the tee's spools.
        path = "/v1/b2b/organizations/members/search"
        return self._search_pages(path, body, "members", _user_and_membership)

    def _search_pages(
        self,
        path: str,
        body: dict[str, Any],
        key: str,
        read: Callable[[dict[str, Any]], Any],
    ) -> Iterator[list[list[Any]]]:
        """Each page's items through `read`, wrapped so a fan-out hands the page over whole."""

        @_readable
        def digest(data: dict[str, Any]) -> tuple[str | None, list[Any]]:
            cursor = (data.get("results_metadata") or {}).get("next_cursor")
            return cursor, [read(item) for item in data.get(key) or []]

        cursor = None
        while True:
            page = {**body, "limit": self.page_size, **({"cursor": cursor} if cursor else {})}
            # A search only reads, so it is safe to repeat although it is a POST.
            answer = self.http.request("POST", path, json=page, idempotent=True, digest=digest)
            cursor, items = answer.data
            yield [items]
            if not cursor:
                return

    def _member(self, member_id: str) -> dict[str, Any]:
        # Deleted members are found only with include_deleted; ids are unique across orgs.
        path = f"/v1/b2b/organizations/members/dangerously_get/{_seg(member_id)}"
        return self._call("GET", path, params={"include_deleted": "true"}).data["member"]


_readable = functools.partial(readable, "stytch")


def _seg(value: str) -> str:
    return quote(value, safe="")


def _member_path(membership: Membership) -> str:
    org, member = _seg(membership.organization_id), _seg(membership.id)
    return f"/v1/b2b/organizations/{org}/members/{member}"


@_readable
def _organization(data: dict[str, Any]) -> Organization:
    return Organization(id=data["organization_id"], name=data.get("organization_name") or "")


@_readable
def _user(data: dict[str, Any]) -> User:
    first, _, last = (data.get("name") or "").strip().partition(" ")
    raw = data.get("status") or ""
    return User(
        id=data["member_id"],
        email=data.get("email_address") or "",
        first_name=first,
        last_name=last.strip(),
        status=STATUS.get(raw, Status.PENDING),
        raw_status=raw,
        email_verified=bool(data.get("email_address_verified")),
    )


@_readable
def _organization_id(data: dict[str, Any]) -> str:
    return data["organization_id"]


@_readable
def _custom_roles(data: dict[str, Any]) -> list[Role]:
    return [_role(role, data["organization_id"]) for role in data.get("custom_roles") or []]


def _user_and_membership(data: dict[str, Any]) -> tuple[User, Membership]:
    return _user(data), _membership(data)


@_readable
def _membership(data: dict[str, Any]) -> Membership:
    raw = data.get("status") or ""
    roles = [r["role_id"] for r in data.get("roles") or [] if r.get("role_id") != IMPLICIT_ROLE]
    return Membership(
        id=data["member_id"],
        organization_id=data["organization_id"],
        user_id=data["member_id"],
        status=STATUS.get(raw, Status.PENDING),
        raw_status=raw,
        roles=tuple(roles),
    )


@_readable
def _role(data: dict[str, Any], organization_id: str) -> Role:
    role_id = data["role_id"]
    text = (data.get("description") or "").strip()
    first, _, rest = text.partition("\n")
    name, description = (first.strip(), rest.strip())
    if not name or len(name) > NAME_MAX:
        name, description = role_id, text
    return Role(
        id=f"{organization_id}:{role_id}" if organization_id else role_id,
        slug=role_id,
        name=name,
        organization_id=organization_id,
        description=description,
    )


def webhook_changes(payload: dict[str, Any]) -> list[Change]:
    """What a Stytch (Svix) webhook says changed: a member is both a user and a membership."""
    object_type, action = payload.get("object_type"), str(payload.get("action") or "").upper()
    event_id, at = str(payload.get("event_id") or ""), str(payload.get("timestamp") or "")
    entity = payload.get(str(object_type))
    # A deleted member keeps existing with status "deleted": with its entity it is an update.
    if object_type == "member" and isinstance(entity, dict):
        membership = _membership(entity)
        return [
            Change(event_id, "user", membership.id, _user(entity), at),
            Change(event_id, "membership", membership.id, membership, at),
        ]
    removed_id = str(payload.get("id") or "")
    if object_type == "member" and action == "DELETE" and removed_id:
        return [Change(event_id, "membership", removed_id, None, at)]
    if object_type == "organization" and isinstance(entity, dict):
        organization = _organization(entity)
        item = None if action == "DELETE" else organization
        return [Change(event_id, "organization", organization.id, item, at)]
    return []

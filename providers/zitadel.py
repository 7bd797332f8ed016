"""ZITADEL adapter: v2 user/organization REST, v1 management org reactivate, v2 authorizations
and project roles/grants over Connect paths; v3alpha user activate only when asked for."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import replace
from http import HTTPStatus
from typing import Any, ClassVar

import httpx
from django.conf import settings

from providers import zitadel_feed
from providers import zitadel_wire as wire
from providers.base import (
    Capability,
    ChangePage,
    Membership,
    Organization,
    Result,
    Role,
    Status,
    User,
    reads_answers_safely,
)
from providers.budget import Budget
from providers.errors import (
    ProviderConflict,
    ProviderNotConfigured,
    ProviderNotFound,
    ProviderUnsupported,
)
from providers.fanout import fan_out
from providers.http import Answer, ProviderHTTP, RetryPolicy

CONNECT_PREFIX = "/zitadel."
CONNECT_HEADERS = {"Connect-Protocol-Version": "1"}
AUTHZ = "/zitadel.authorization.v2.AuthorizationService/"
PROJECT = "/zitadel.project.v2.ProjectService/"
ORG_ROLE_PREFIX = "org-"
NO_PROJECT = "ZITADEL_PROJECT_ID is not set: ZITADEL roles belong to a project"


def _as_sent(item: Any) -> Any:
    return item


@reads_answers_safely
class ZitadelProvider:
    """ZITADEL over httpx with a personal access token; memberships are v2 authorizations.

    Organization roles are project roles (of `project_id`) named `org-…`: the project's owner
    organization may hand out all of them, any other organization those in its project grant.
    ZITADEL roles have no description; the role's display `group` carries it.
    """

    name: ClassVar[str] = "zitadel"

    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        project_id: str = "",
        use_v3alpha: bool = False,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        page_size: int = 1000,
        transport: httpx.BaseTransport | None = None,
        budget: Budget | None = None,
        concurrency: int = 4,
    ) -> None:
        self.project_id = project_id
        self.concurrency = max(1, concurrency)
        self.use_v3alpha = use_v3alpha
        self.page_size = page_size
        self._owner_org = ""
        self.http = ProviderHTTP(
            base_url=base_url,
            provider=self.name,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=timeout,
            retry=retry,
            error_parser=wire.parse_error,
            transport=transport,
            budget=budget,
            connections=self.concurrency + 2,
        )
        self.unsupported_reasons: dict[Capability, str] = {}
        if not project_id:
            self.unsupported_reasons = {
                Capability.LIST_ROLES: NO_PROJECT,
                Capability.UPSERT_ORGANIZATION_ROLE: NO_PROJECT,
            }
        self.capabilities = frozenset(Capability) - set(self.unsupported_reasons)

    def close(self) -> None:
        """Release the connection pool."""
        self.http.close()

    # -- transport ---------------------------------------------------------------------------

    def _call(
        self,
        path: str,
        body: dict[str, Any],
        *,
        idempotent: bool,
        org: str = "",
        digest: Callable[[Any], Any] | None = None,
    ) -> Answer:
        """POST a REST or Connect call; `org` sets the v1 org context (x-zitadel-orgid)."""
        headers = dict(CONNECT_HEADERS) if path.startswith(CONNECT_PREFIX) else {}
        if org:
            headers["x-zitadel-orgid"] = org
        return self.http.request(
            "POST", path, json=body, idempotent=idempotent, headers=headers, digest=digest
        )

    def _pages(
        self, path: str, body: dict[str, Any], key: str, read: Callable[[Any], Any] = _as_sent
    ) -> Iterator[Any]:
        """Every item of an offset-paged list, each through `read`; the first page says how
        many there are, so the other pages are read concurrently (items come page by page,
        pages interleaved)."""
        first, total = self._page(path, body, key, 0, read)
        yield from first
        if not first or len(first) >= total:
            return
        offsets = range(len(first), total, self.page_size)
        chains = (functools.partial(self._page_chain, path, body, key, at, read) for at in offsets)
        yield from fan_out(chains, self.concurrency)

    def _page_chain(
        self, path: str, body: dict[str, Any], key: str, offset: int, read: Callable[[Any], Any]
    ) -> Iterator[list]:
        # Records made by the reading thread: a page of raw JSON takes several times the
        # memory while it waits in the fan-out's queue.
        yield self._page(path, body, key, offset, read)[0]

    def _page(
        self,
        path: str,
        body: dict[str, Any],
        key: str,
        offset: int,
        read: Callable[[Any], Any] = _as_sent,
    ) -> tuple[list, int]:
        """One page at `offset` (oldest first), each item through `read`, and the list's total."""
        connect = path.startswith(CONNECT_PREFIX)
        paging, meta = ("pagination", "pagination") if connect else ("query", "details")
        window = {"offset": str(offset), "limit": self.page_size, "asc": True}

        @wire.readable_answer
        def digest(data: dict[str, Any]) -> tuple[list, int]:
            items = [read(item) for item in data.get(key) or []]
            return items, int(data.get(meta, {}).get("totalResult", "0"))

        return self._call(path, {**body, paging: window}, idempotent=True, digest=digest).data

    def call(self, path: str, body: dict[str, Any], *, idempotent: bool) -> Answer:
        """One POST (for the feed's reads)."""
        return self._call(path, body, idempotent=idempotent)

    def pages(self, path: str, body: dict[str, Any], key: str = "result") -> Iterator[Any]:
        """Every item of an offset-paged list (for the feed's reads)."""
        return self._pages(path, body, key)

    # -- change feed (admin ListEvents) ------------------------------------------------------

    def latest_change_cursor(self) -> str | None:
        """The newest relevant event's sequence: the feed resumes after it."""
        return zitadel_feed.latest_change_cursor(self)

    def read_changes(self, cursor: str | None) -> ChangePage:
        """The changes after `cursor`; ProviderFeedExpired when the log has a gap there."""
        return zitadel_feed.read_changes(self, cursor)

    def _require(self, capability: Capability) -> None:
        if capability not in self.capabilities:
            raise ProviderUnsupported(self.unsupported_reasons[capability])

    # -- reads -------------------------------------------------------------------------------

    def list_organizations(self) -> Iterator[Organization]:
        """Every organization (v2 ListOrganizations), oldest first."""
        yield from self._pages("/v2/organizations/_search", {}, "result", wire.organization)

    def list_users(self) -> Iterator[User]:
        """Every human user (v2 ListUsers); service users are left out."""
        body = {"queries": [{"typeQuery": {"type": "TYPE_HUMAN"}}]}
        yield from self._pages("/v2/users", body, "result", wire.user)

    def list_memberships(self) -> Iterator[Membership]:
        """Every authorization on the project (v2 ListAuthorizations over Connect).

        An active authorization of a user who never set up their account (INITIAL) is a
        pending seat, so those users are listed first (one filtered ListUsers).
        """
        invited = {
            item["userId"]
            for item in self._pages("/v2/users", {"queries": [wire.INITIAL_USERS]}, "result")
        }
        filters = [{"projectId": {"id": self.project_id}}] if self.project_id else []
        yield from self._pages(
            AUTHZ + "ListAuthorizations",
            {"filters": filters},
            "authorizations",
            lambda item: wire.membership(item, invited=invited),
        )

    def list_roles(self) -> Iterator[Role]:
        """The project's roles: `org-…` ones per organization that may hand them out."""
        self._require(Capability.LIST_ROLES)
        roles = {
            r["key"]: r
            for r in self._pages(
                PROJECT + "ListProjectRoles",
                {"projectId": self.project_id},
                "projectRoles",
            )
        }
        holders = {self._owner(): list(roles)}
        grants = {"filters": [{"inProjectIdsFilter": {"ids": [self.project_id]}}]}
        for grant in self._pages(PROJECT + "ListProjectGrants", grants, "projectGrants"):
            holders[grant["grantedOrganizationId"]] = grant.get("grantedRoleKeys") or []
        for key, role in roles.items():
            if not key.startswith(ORG_ROLE_PREFIX):
                yield wire.role("", role)
        for org_id, keys in holders.items():
            for key in keys:
                if key.startswith(ORG_ROLE_PREFIX) and key in roles:
                    yield wire.role(org_id, roles[key])

    def get_organization(self, organization_id: str) -> Organization:
        """One organization, found with an id query."""
        body = {"queries": [{"idQuery": {"id": organization_id}}], "query": {"limit": 1}}
        answer = self._call("/v2/organizations/_search", body, idempotent=True)
        if not answer.data.get("result"):
            raise wire.not_found("organization", organization_id, answer)
        return wire.organization(answer.data["result"][0])

    def get_user(self, user_id: str) -> User:
        """One user (v2 GetUserByID)."""
        return wire.user(
            self.http.request("GET", f"/v2/users/{wire.segment(user_id)}").data["user"]
        )

    def get_membership(self, membership_id: str) -> Membership:
        """One authorization, found with an id filter, and whether its user is set up."""
        return self._authorization(membership_id)[0]

    def _authorization(self, membership_id: str) -> tuple[Membership, Answer, bool]:
        """The membership, the answer that found it, and whether its user is still INITIAL."""
        body = {
            "filters": [{"authorizationIds": {"ids": [membership_id]}}],
            "pagination": {"limit": 1},
        }
        answer = self._call(AUTHZ + "ListAuthorizations", body, idempotent=True)
        if not answer.data.get("authorizations"):
            raise wire.not_found("authorization", membership_id, answer)
        found = wire.membership(answer.data["authorizations"][0])
        user = self.http.request("GET", f"/v2/users/{wire.segment(found.user_id)}")
        invited = user.data["user"].get("state") == wire.INITIAL
        status = wire.membership_state(found.raw_status, invited=invited)
        return replace(found, status=status), answer, invited

    # -- state changes -----------------------------------------------------------------------

    def _set_authorization(self, membership: Membership, active: bool) -> Result[Membership]:
        """Authorization (de)activation is idempotent in ZITADEL, so it may be retried.

        A pending seat is already an active authorization: reactivating it cannot make the
        user set up their account, so it is refused like the other providers refuse it.
        """
        current, found, invited = self._authorization(membership.id)
        if active and current.status == Status.PENDING:
            raise ProviderConflict(
                "The user has not set up their account yet (USER_STATE_INITIAL); "
                "the authorization takes effect once they do.",
                status_code=HTTPStatus.CONFLICT,
                code=wire.INITIAL,
                request_id=found.request_id,
            )
        raw = "STATE_ACTIVE" if active else "STATE_INACTIVE"
        if current.raw_status == raw:
            return Result(current, changed=False)
        method = "ActivateAuthorization" if active else "DeactivateAuthorization"
        answer = self._call(AUTHZ + method, {"id": membership.id}, idempotent=True)
        changed = wire.membership_state(raw, invited=invited)
        return Result(replace(current, status=changed, raw_status=raw), answer.request_id)

    def reactivate_membership(self, membership: Membership) -> Result[Membership]:
        """Activate the authorization; one already active is an unchanged success."""
        return self._set_authorization(membership, active=True)

    def deactivate_membership(self, membership: Membership) -> Result[Membership]:
        """Deactivate the authorization; one already inactive is an unchanged success."""
        return self._set_authorization(membership, active=False)

    def activate_user(self, user_id: str) -> Result[User]:
        """v2 ReactivateUser (not idempotent: a user not inactive is a precondition failure)."""
        if not self.use_v3alpha:
            answer = self._call(
                f"/v2/users/{wire.segment(user_id)}/reactivate", {}, idempotent=False
            )
            return Result(self.get_user(user_id), answer.request_id)
        try:
            answer = self._call(
                f"/resources/v3alpha/users/{wire.segment(user_id)}/_activate",
                {},
                idempotent=False,
            )
        except ProviderNotFound as exc:
            # v3alpha says "not found" for a user that exists but is not deactivated.
            user = self.get_user(user_id)
            raise ProviderConflict(
                f"User is not inactive (state {user.raw_status})",
                status_code=exc.status_code,
                code=exc.code,
                request_id=exc.request_id,
                body=exc.body,
            ) from exc
        return Result(self.get_user(user_id), answer.request_id)

    def deactivate_user(self, user_id: str) -> Result[User]:
        """v2 DeactivateUser; not idempotent (an inactive user is a precondition failure)."""
        answer = self._call(f"/v2/users/{wire.segment(user_id)}/deactivate", {}, idempotent=False)
        return Result(self.get_user(user_id), answer.request_id)

    def _set_organization(self, organization_id: str, action: str) -> Result[Organization]:
        """v1 management `orgs/me/_reactivate|_deactivate`, the org named by x-zitadel-orgid."""
        path = f"/management/v1/orgs/me/{action}"
        answer = self._call(path, {}, idempotent=False, org=organization_id)
        return Result(self.get_organization(organization_id), answer.request_id)

    def reactivate_organization(self, organization_id: str) -> Result[Organization]:
        """v1 `_reactivate`: fails with EVENT-bfnrh when the org is already active."""
        return self._set_organization(organization_id, "_reactivate")

    def deactivate_organization(self, organization_id: str) -> Result[Organization]:
        """v1 `_deactivate`: fails with EVENT-Dbs2g when already deactivated."""
        return self._set_organization(organization_id, "_deactivate")

    def _owner(self) -> str:
        if not self._owner_org:
            answer = self._call(
                PROJECT + "GetProject", {"projectId": self.project_id}, idempotent=True
            )
            self._owner_org = answer.data["project"]["organizationId"]
        return self._owner_org

    def upsert_organization_role(
        self, organization_id: str, slug: str, name: str, description: str = ""
    ) -> Result[Role]:
        """Upsert the project role, then make sure the organization may hand it out."""
        self._require(Capability.UPSERT_ORGANIZATION_ROLE)
        self.get_organization(organization_id)
        role = {"projectId": self.project_id, "roleKey": slug, "displayName": name}
        role["group"] = description
        found = self._call(
            PROJECT + "ListProjectRoles",
            {"projectId": self.project_id, "filters": [{"roleKeyFilter": {"key": slug}}]},
            idempotent=True,
        )
        existing = (found.data.get("projectRoles") or [None])[0]
        answer, changed = found, True
        if existing is None:
            answer = self._call(PROJECT + "AddProjectRole", role, idempotent=False)
        elif (existing.get("displayName"), existing.get("group", "")) != (name, description):
            answer = self._call(PROJECT + "UpdateProjectRole", role, idempotent=True)
        else:
            changed = False
        if organization_id != self._owner():
            granted = self._grant_role(organization_id, slug)
            answer, changed = granted or answer, changed or granted is not None
        value = wire.role(organization_id, {"key": slug, **role})
        return Result(value, answer.request_id, changed)

    def _grant_role(self, organization_id: str, slug: str) -> Answer | None:
        """Add `slug` to the organization's project grant (created if missing); None if held."""
        body = {
            "filters": [
                {"grantedOrganizationIdFilter": {"id": organization_id}},
                {"inProjectIdsFilter": {"ids": [self.project_id]}},
            ]
        }
        grants = list(self._pages(PROJECT + "ListProjectGrants", body, "projectGrants"))
        grant = {"projectId": self.project_id, "grantedOrganizationId": organization_id}
        if not grants:
            return self._call(
                PROJECT + "CreateProjectGrant", {**grant, "roleKeys": [slug]}, idempotent=False
            )
        keys = grants[0].get("grantedRoleKeys") or []
        if slug in keys:
            return None
        # UpdateProjectGrant replaces the whole list, so a repeat is harmless.
        return self._call(
            PROJECT + "UpdateProjectGrant", {**grant, "roleKeys": [*keys, slug]}, idempotent=True
        )

    def set_membership_roles(
        self, membership: Membership, roles: tuple[str, ...]
    ) -> Result[Membership]:
        """UpdateAuthorization replaces the role keys, so a repeat is harmless."""
        current = self.get_membership(membership.id)
        if set(current.roles) == set(roles):
            return Result(current, changed=False)
        body = {"id": membership.id, "roleKeys": list(roles)}
        answer = self._call(AUTHZ + "UpdateAuthorization", body, idempotent=True)
        return Result(replace(current, roles=tuple(roles)), answer.request_id)

    def create_user(self, email: str, first_name: str = "", last_name: str = "") -> Result[User]:
        """v2 CreateUser (AddHumanUser's successor) in the caller's organization.

        v2 users start ACTIVE. ZITADEL requires both names, so the email's local part stands
        in for a missing one.
        """
        local = email.split("@", 1)[0]
        profile = {"givenName": first_name or local, "familyName": last_name or local}
        human = {"profile": profile, "email": {"email": email}}
        answer = self._call("/v2/users/new", {"username": email, "human": human}, idempotent=False)
        created = {"userId": answer.data["id"], "state": "USER_STATE_ACTIVE", "human": human}
        return Result(wire.user(created), answer.request_id)


def from_settings() -> ZitadelProvider:
    """The adapter from ZITADEL_* settings (ZITADEL_BASE_URL overrides the domain, for example
    to point at an emulator); raises ProviderNotConfigured without an address or a token."""
    from providers.registry import budget_for, retry_policy

    domain = (settings.ZITADEL_BASE_URL or settings.ZITADEL_DOMAIN).rstrip("/")
    missing = [
        n
        for n, v in (("ZITADEL_DOMAIN", domain), ("ZITADEL_TOKEN", settings.ZITADEL_TOKEN))
        if not v
    ]
    if missing:
        raise ProviderNotConfigured(f"{' and '.join(missing)} not set")
    return ZitadelProvider(
        base_url=domain if "://" in domain else f"https://{domain}",
        token=settings.ZITADEL_TOKEN,
        project_id=settings.ZITADEL_PROJECT_ID,
        use_v3alpha=settings.ZITADEL_USE_V3ALPHA,
        timeout=settings.KARMO_PROVIDER_TIMEOUT,
        retry=retry_policy(),
        budget=budget_for("zitadel"),
        concurrency=settings.KARMO_SYNC_CONCURRENCY,
    )

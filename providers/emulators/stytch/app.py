"""The Stytch B2B emulator as a WSGI app.

Speaks Stytch's wire format as `shared/providers.md` section 2 describes it: HTTP Basic auth
with project id and secret, `POST .../search` with body cursors, member statuses
pending/invited/active/deleted, `status_code` and `request_id` in every body, and
`{status_code, request_id, error_type, error_message, error_url}` errors. Where Stytch
documents nothing, the emulator takes the stricter reading: deleted members are invisible to
get, update and delete (404 `member_not_found`), and a 429 carries no Retry-After header.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import uuid
from collections.abc import Iterable
from typing import Any

from providers.emulators.seed import Dataset, demo_dataset, paused_gc
from providers.emulators.server import EmulatorApp, Handler, HTTPError, Request, Response
from providers.emulators.state import Match, Store
from providers.emulators.stytch import search
from providers.emulators.stytch.documents import (
    LIVE_STATUSES,
    PROJECT_ID,
    SECRET,
    assign_direct,
    bad,
    checked_org_roles,
    load_dataset,
    member_doc,
    stamp,
)
from providers.emulators.webhooks import WebhookSender, svix_headers

Doc = dict[str, Any]
_TOO_MANY = ("too_many_requests", "Too many requests have been made.")
_GENERIC_ERRORS = {
    "rate_limit_exceeded": _TOO_MANY,
    "not_found": ("route_not_found", "The requested route does not exist."),
    "method_not_allowed": ("method_not_allowed", "This method is not allowed on this route."),
}
# Injected failures ("server_error") take the error_type Stytch uses for their status.
_BY_STATUS = {
    429: _TOO_MANY,
    503: ("server_unavailable", "The service is temporarily unavailable."),
}
_SERVER_ERROR = ("internal_server_error", "Oops, something seems to have gone wrong.")


class StytchEmulator(EmulatorApp):
    """Stytch B2B over WSGI, with state in a Store (in memory, or a file the sandbox shares)."""

    name = "stytch"

    def __init__(
        self,
        *,
        store: Store | None = None,
        project_id: str = PROJECT_ID,
        secret: str = SECRET,
        environment: str = "test",
    ) -> None:
        self.store = store or Store()
        self.project_id = project_id
        self.secret = secret
        self.environment = environment
        self.webhooks = WebhookSender(svix_headers)
        super().__init__()

    def routes(self) -> Iterable[tuple[str, str, Handler]]:
        """Stytch's B2B admin paths."""
        orgs = r"/v1/b2b/organizations"
        org = orgs + r"/(?P<organization_id>[^/]+)"
        member = org + r"/members/(?P<member_id>[^/]+)"
        rbac_org = r"/v1/b2b/rbac/organizations/(?P<organization_id>[^/]+)"
        return [
            ("POST", orgs + "/search", self.search_organizations),
            ("POST", orgs + "/members/search", self.search_members),
            ("GET", orgs + "/members/dangerously_get/(?P<member_id>[^/]+)", self.dangerously_get),
            ("GET", org, self.get_organization),
            ("GET", org + "/member", self.get_member),
            ("POST", org + "/members", self.create_member),
            ("PUT", member + "/reactivate", self.reactivate_member),
            ("PUT", member, self.update_member),
            ("DELETE", member, self.delete_member),
            ("GET", r"/v1/b2b/rbac/policy", self.get_policy),
            ("GET", rbac_org, self.get_org_policy),
            ("PUT", rbac_org, self.set_org_policy),
        ]

    def authenticate(self, request: Request) -> None:
        """HTTP Basic with project id and secret."""
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        try:
            given = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            given = b""
        expected = f"{self.project_id}:{self.secret}".encode()
        if scheme.lower() != "basic" or not hmac.compare_digest(given, expected):
            raise bad("unauthorized_credentials", "Unauthorized credentials.", 401)

    def error_body(self, request: Request, error: HTTPError, request_id: str) -> Any:
        """Stytch's error shape, with the request id in the body."""
        if error.code == "server_error":
            error_type, message = _BY_STATUS.get(error.status, _SERVER_ERROR)
        else:
            error_type, message = _GENERIC_ERRORS.get(error.code, (error.code, error.message))
        return {
            "status_code": error.status,
            "request_id": self._request_id(),
            "error_type": error_type,
            "error_message": message,
            "error_url": f"https://stytch.com/docs/api/errors/{error.status}#{error_type}",
        }

    def dispatch(self, request: Request) -> Response:
        """Answer like Stytch: the request id lives in the body, and a 429 has no Retry-After."""
        response = super().dispatch(request)
        if not request.path.startswith("/__emulator__"):
            response.headers.pop("X-Request-ID", None)
            response.headers.pop("Retry-After", None)
        return response

    def reset(self, dataset: Dataset | None = None) -> None:
        """Forget faults and reload the demo data (or `dataset`)."""
        super().reset()
        self.request_count = 0
        with paused_gc(), self.store.transaction():
            self.store.clear()
            load_dataset(self.store, dataset or demo_dataset(), self.environment)

    def search_organizations(self, request: Request) -> Response:
        """POST /v1/b2b/organizations/search."""
        body = self._body(request)
        match = search.conditions(body, "organization_search")
        limit, after = search.paging(body)
        rows = self.store.find("organization", match=match, after_seq=after, limit=limit + 1)
        page, next_cursor = search.cut(rows, limit)
        return self._ok(
            organizations=[org for _, org in page],
            results_metadata={
                "total": self.store.count("organization", match=match),
                "next_cursor": next_cursor,
            },
        )

    def get_organization(self, request: Request, organization_id: str) -> Response:
        """GET /v1/b2b/organizations/{organization_id}."""
        return self._ok(organization=self._org(organization_id))

    def search_members(self, request: Request) -> Response:
        """POST /v1/b2b/organizations/members/search; deleted members only when asked for."""
        body = self._body(request)
        org_ids = body.get("organization_ids")
        if not isinstance(org_ids, list) or not org_ids:
            raise bad("member_search_organization_ids_empty", "organization_ids is required.")
        match = search.conditions(body, "member_search")
        if not search.asks_for_statuses(body):
            match.append(Match("status", LIVE_STATUSES))
        limit, after = search.paging(body)
        # A member's parent key is its organization id.
        parents = list(dict.fromkeys(str(i) for i in org_ids))
        rows = self.store.find_raw(
            "member", parent=parents, match=match, after_seq=after, limit=limit + 1
        )
        page, next_cursor = search.cut(rows, limit)
        orgs = self.store.get_many("organization", list(dict.fromkeys(p for _, p, _ in page)))
        # Members go out as stored, unparsed: decoding and re-encoding them cost more than
        # the query (the page's organizations are few and decoded as usual).
        return self._ok_spliced(
            "members",
            [text for _, _, text in page],
            organizations=orgs,
            results_metadata={
                "total": self.store.count("member", parent=parents, match=match),
                "next_cursor": next_cursor,
            },
        )

    def get_member(self, request: Request, organization_id: str) -> Response:
        """GET /v1/b2b/organizations/{organization_id}/member?member_id=…|email_address=…."""
        org = self._org(organization_id)
        member_id, email = request.arg("member_id"), request.arg("email_address")
        if member_id:
            member = self._member(org, member_id)
        elif email:
            found = self._live_with_email(org, email)
            if found is None:
                raise bad("member_not_found", "Member could not be found.", 404)
            member = found
        else:
            raise bad("invalid_member_get_fields", "Pass member_id or email_address.")
        return self._member_answer(member, org)

    def dangerously_get(self, request: Request, member_id: str) -> Response:
        """GET /v1/b2b/organizations/members/dangerously_get/{member_id}[?include_deleted=true]."""
        member = self.store.get("member", member_id)
        include_deleted = (request.arg("include_deleted") or "").lower() in {"true", "1"}
        if member is None or (member["status"] == "deleted" and not include_deleted):
            raise bad("member_not_found", "Member could not be found.", 404)
        return self._member_answer(member, self._org(member["organization_id"]))

    def create_member(self, request: Request, organization_id: str) -> Response:
        """POST /v1/b2b/organizations/{organization_id}/members."""
        body = self._body(request)
        email = str(body.get("email_address") or "").strip().lower()
        local, _, domain = email.partition("@")
        if not local or "." not in domain or " " in email:
            raise bad("invalid_email", "email_address must be a valid email address.")
        with self.store.transaction():
            org = self._org(organization_id)
            if self._live_with_email(org, email) is not None:
                raise bad("duplicate_member_email", "A member with this email exists.", 409)
            member = member_doc(
                org["organization_id"],
                f"member-{self.environment}-{uuid.uuid4()}",
                email,
                str(body.get("name") or ""),
                verified=False,
                status="pending" if body.get("create_member_as_pending") else "active",
                roles=self._checked_roles(org, body.get("roles") or []),
            )
            member["external_id"] = str(body.get("external_id") or "")
            self.store.insert(
                "member", member["member_id"], member, parent=org["organization_id"], ref=email
            )
        self._notify("CREATE", member)
        return self._member_answer(member, org)

    def update_member(self, request: Request, organization_id: str, member_id: str) -> Response:
        """PUT …/members/{member_id}; `roles` replaces the direct role assignments."""
        body = self._body(request)
        with self.store.transaction():
            org = self._org(organization_id)
            member = self._member(org, member_id)
            if "name" in body:
                member["name"] = str(body["name"] or "")
            if "roles" in body:
                explicit = self._checked_roles(org, body["roles"])
                member["roles"] = assign_direct(member["roles"], explicit)
                member["is_admin"] = any(r["role_id"] == "stytch_admin" for r in member["roles"])
            member["updated_at"] = stamp()
            self.store.put("member", member["member_id"], member)
        self._notify("UPDATE", member)
        return self._member_answer(member, org)

    def delete_member(self, request: Request, organization_id: str, member_id: str) -> Response:
        """DELETE …/members/{member_id}: a soft delete to status `deleted`."""
        with self.store.transaction():
            member = self._member(self._org(organization_id), member_id)
            member.update(status="deleted", updated_at=stamp())
            self.store.put("member", member["member_id"], member)
        self._notify("DELETE", member)
        return self._ok(member_id=member["member_id"])

    def reactivate_member(self, request: Request, organization_id: str, member_id: str) -> Response:
        """PUT …/members/{member_id}/reactivate: deleted members with a verified email only."""
        with self.store.transaction():
            org = self._org(organization_id)
            # Only the real member_id: reactivate does not accept an external_id.
            member = self.store.get("member", member_id)
            if member is None or member["organization_id"] != org["organization_id"]:
                raise bad("member_not_found", "Member could not be found.", 404)
            if member["status"] != "deleted":
                raise bad(
                    "no_deleted_member_found_for_reactivation",
                    "No deleted member was found to reactivate.",
                )
            if not member["email_address_verified"]:
                raise bad(
                    "email_unverified_for_reactivation",
                    "The member's email address is not verified, so it cannot be reactivated.",
                )
            if self._live_with_email(org, member["email_address"]) is not None:
                raise bad(
                    "reactivation_email_belongs_to_another_member",
                    "Another member of the organization now uses this email address.",
                )
            member.update(status="active", updated_at=stamp())
            self.store.put("member", member["member_id"], member)
        self._notify("UPDATE", member)
        return self._member_answer(member, org)

    def get_policy(self, request: Request) -> Response:
        """GET /v1/b2b/rbac/policy: the project's roles, resources and scopes."""
        return self._ok(policy=self.store.get("policy", "project"))

    def get_org_policy(self, request: Request, organization_id: str) -> Response:
        """GET /v1/b2b/rbac/organizations/{organization_id} (private beta)."""
        return self._ok(org_policy={"roles": self._org(organization_id)["custom_roles"]})

    def set_org_policy(self, request: Request, organization_id: str) -> Response:
        """PUT /v1/b2b/rbac/organizations/{organization_id}: replaces every org-specific role."""
        policy = self._body(request).get("org_policy")
        roles = policy.get("roles") if isinstance(policy, dict) else None
        if not isinstance(roles, list):
            raise bad("bad_request", "org_policy.roles must be a list.")
        with self.store.transaction():
            org = self._org(organization_id)
            checked = checked_org_roles(roles, self.store.get("policy", "project") or {})
            org.update(custom_roles=checked, updated_at=stamp())
            self.store.put("organization", org["organization_id"], org)
        return self._ok(org_policy={"roles": checked})

    def _request_id(self) -> str:
        return f"request-id-{self.environment}-{uuid.uuid4()}"

    def _ok(self, **payload: Any) -> Response:
        return Response(200, {"status_code": 200, "request_id": self._request_id(), **payload})

    def _ok_spliced(self, key: str, texts: list[str], **payload: Any) -> Response:
        """A success whose `key` holds a list of JSON texts, passed on without parsing."""
        body = json.dumps({"status_code": 200, "request_id": self._request_id(), **payload})
        spliced = f"{body[:-1]}, {json.dumps(key)}: [{', '.join(texts)}]}}"
        return Response(200, raw=spliced.encode())

    def _notify(self, action: str, member: Doc) -> None:
        """A webhook as Stytch sends it through Svix: the member under `member`."""
        self.webhooks.send(
            {
                "project_id": self.project_id,
                "event_id": f"event-{self.environment}-{uuid.uuid4()}",
                "action": action,
                "object_type": "member",
                "source": "DIRECT",
                "id": member["member_id"],
                "timestamp": member["updated_at"],
                "vertical": "B2B",
                "member": member,
            }
        )

    def _member_answer(self, member: Doc, org: Doc) -> Response:
        return self._ok(member_id=member["member_id"], member=member, organization=org)

    @staticmethod
    def _body(request: Request) -> Doc:
        try:
            body = request.json()
        except ValueError as exc:
            raise bad("bad_request", "The request body is not valid JSON.") from exc
        if not isinstance(body, dict):
            raise bad("bad_request", "The request body must be a JSON object.")
        return body

    def _org(self, ref: str) -> Doc:
        """An organization by id, slug or external id, as Stytch accepts all three."""
        org = self.store.get("organization", ref)
        if org is not None:
            return org
        for field in ("organization_slug", "organization_external_id"):
            found = self.store.find("organization", where={field: [ref]}, limit=1)
            if found:
                return found[0][1]
        raise bad("organization_not_found", "Organization could not be found.", 404)

    def _member(self, org: Doc, ref: str) -> Doc:
        """A non-deleted member of `org` by member id or external id."""
        member = self.store.get("member", ref)
        if member is None:
            found = self.store.find(
                "member", parent=org["organization_id"], where={"external_id": [ref]}, limit=1
            )
            member = found[0][1] if found else None
        if (
            member is None
            or member["organization_id"] != org["organization_id"]
            or member["status"] == "deleted"
        ):
            raise bad("member_not_found", "Member could not be found.", 404)
        return member

    def _live_with_email(self, org: Doc, email: str) -> Doc | None:
        found = self.store.find(
            "member",
            parent=org["organization_id"],
            ref=email.lower(),
            where={"status": LIVE_STATUSES},
            limit=1,
        )
        return found[0][1] if found else None

    def _checked_roles(self, org: Doc, roles: Any) -> list[str]:
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise bad("bad_request", "roles must be a list of role ids.")
        if "stytch_member" in roles:
            raise bad("cannot_assign_default_rbac_role_id", "stytch_member cannot be assigned.")
        policy = self.store.get("policy", "project") or {"roles": []}
        known = {r["role_id"] for r in [*policy["roles"], *org["custom_roles"]]}
        for role in roles:
            if role not in known:
                raise bad("invalid_rbac_role_id", f"Role {role!r} does not exist.")
        return list(dict.fromkeys(roles))

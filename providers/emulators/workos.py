"""An emulator of WorkOS's organizations, AuthKit users, memberships and roles APIs."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from providers.emulators.seed import Dataset, demo_dataset
from providers.emulators.server import EmulatorApp, Handler, HTTPError, Request, Response
from providers.emulators.state import Store

EMULATOR_API_KEY = "sk_test_karmo_emulator"
STATUSES = ("active", "inactive", "pending")
ROLE_SLUG = re.compile(r"^org-[a-z0-9_-]+$")
SEED_EPOCH_MS = 1_736_154_000_000  # 2025-01-06T09:00:00Z: demo data looks a year old.
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
OM = "/user_management/organization_memberships"
ORG_ROLES = "/authorization/organizations/(?P<organization_id>[^/]+)/roles"


def ulid(ms: int, entropy: bytes) -> str:
    """A ULID string: 48 bits of milliseconds then 80 bits of entropy, Crockford base32."""
    value = (ms << 80) | int.from_bytes(entropy[:10], "big")
    return "".join(CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))


def timestamp(ms: int) -> str:
    """WorkOS's timestamp format: ISO-8601 with milliseconds and Z."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _new_id(prefix: str) -> tuple[str, str]:
    ms = _now_ms()
    return f"{prefix}_{ulid(ms, secrets.token_bytes(10))}", timestamp(ms)


class WorkOSEmulator(EmulatorApp):
    """WorkOS's wire format for the subset Karmo uses; state lives in a Store."""

    name = "workos"

    def __init__(self, store: Store | None = None, api_key: str | None = EMULATOR_API_KEY) -> None:
        self.store = store or Store()
        self.api_key = api_key
        super().__init__()

    def routes(self) -> Iterable[tuple[str, str, Handler]]:
        return [
            ("GET", "/organizations", self.list_organizations),
            ("GET", "/organizations/(?P<organization_id>[^/]+)", self.get_organization),
            ("GET", "/user_management/users", self.list_users),
            ("POST", "/user_management/users", self.create_user),
            ("GET", "/user_management/users/(?P<user_id>[^/]+)", self.get_user),
            ("GET", OM, self.list_memberships),
            ("GET", f"{OM}/(?P<membership_id>[^/]+)", self.get_membership),
            ("PUT", f"{OM}/(?P<membership_id>[^/]+)", self.update_membership),
            ("PUT", f"{OM}/(?P<membership_id>[^/]+)/reactivate", self.reactivate_membership),
            ("PUT", f"{OM}/(?P<membership_id>[^/]+)/deactivate", self.deactivate_membership),
            ("GET", "/authorization/roles", self.list_environment_roles),
            ("GET", ORG_ROLES, self.list_organization_roles),
            ("POST", ORG_ROLES, self.create_organization_role),
            ("GET", f"{ORG_ROLES}/(?P<slug>[^/]+)", self.get_organization_role),
            ("PATCH", f"{ORG_ROLES}/(?P<slug>[^/]+)", self.update_organization_role),
        ]

    def authenticate(self, request: Request) -> None:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        valid = key == self.api_key if self.api_key else key.startswith("sk_")
        if scheme.lower() != "bearer" or not valid:
            raise HTTPError(
                401, "", "Could not authorize the request. Maybe your API key is invalid?"
            )

    def error_body(self, request: Request, error: HTTPError, request_id: str) -> Any:
        body: dict[str, Any] = {"message": error.message}
        if error.code:
            body["code"] = error.code
        body.update(error.extra)
        return body

    # State ----------------------------------------------------------------------------

    def reset(self, dataset: Dataset | None = None) -> None:
        """Replace all state with `dataset` (the demo data by default) and clear faults."""
        super().reset()
        self.request_count = 0
        with self.store.transaction():
            self.store.clear()
            self._load(dataset or demo_dataset())

    def _load(self, data: Dataset) -> None:
        tick = iter(range(SEED_EPOCH_MS, SEED_EPOCH_MS + 10**12, 60_000))

        def ident(prefix: str, key: object) -> tuple[str, str]:
            ms = next(tick)
            entropy = hashlib.sha256(f"{prefix}:{key}".encode()).digest()
            return f"{prefix}_{ulid(ms, entropy)}", timestamp(ms)

        orgs: dict[int, dict[str, Any]] = {}
        for org in data.organizations:
            org_id, at = ident("org", org.key)
            domain_id, _ = ident("org_domain", org.key)
            domain = {
                "object": "organization_domain",
                "id": domain_id,
                "organization_id": org_id,
                "domain": org.domain,
                "state": "verified",
                "verification_strategy": "dns",
                "created_at": at,
                "updated_at": at,
            }
            orgs[org.key] = _organization(org_id, org.name, [domain], at)
        self.store.insert_many("organization", [(o["id"], o, "", "") for o in orgs.values()])
        roles = []
        for role in data.roles:
            org_id = orgs[role.organization]["id"] if role.organization is not None else ""
            role_id, at = ident("role", f"{role.organization}:{role.slug}")
            doc = _role(role_id, role.slug, role.name, None, bool(org_id), at)
            roles.append((_role_key(org_id, role.slug), doc, org_id, ""))
        self.store.insert_many("role", roles)
        users: dict[int, dict[str, Any]] = {}
        for person in data.people:
            user_id, at = ident("user", person.key)
            users[person.key] = _user(
                user_id, person.email, person.first_name, person.last_name, at
            ) | {"email_verified": person.email_verified}
        self.store.insert_many("user", [(u["id"], u, "", "") for u in users.values()])
        rows = []
        for membership in data.memberships:
            org, user = orgs[membership.organization], users[membership.person]
            om_id, at = ident("om", f"{membership.organization}:{membership.person}")
            doc = {
                "object": "organization_membership",
                "id": om_id,
                "user_id": user["id"],
                "organization_id": org["id"],
                "organization_name": org["name"],
                "status": membership.status,
                "directory_managed": False,
                "roles": list(membership.roles),
                "custom_attributes": {},
                "created_at": at,
                "updated_at": at,
            }
            rows.append((om_id, doc, org["id"], user["id"]))
        self.store.insert_many("membership", rows)

    def _get(self, kind: str, id: str) -> dict[str, Any]:
        doc = self.store.get(kind, id)
        if doc is None:
            raise HTTPError(404, "entity_not_found", "Not Found", entity_id=id)
        return doc

    # Organizations and users ------------------------------------------------------------

    def list_organizations(self, request: Request) -> Response:
        return Response(200, self._page(request, "organization"))

    def get_organization(self, request: Request, organization_id: str) -> Response:
        return Response(200, self._get("organization", organization_id))

    def list_users(self, request: Request) -> Response:
        where = {"email": [request.arg("email", "").lower()]} if request.arg("email") else None
        return Response(200, self._page(request, "user", where=where))

    def get_user(self, request: Request, user_id: str) -> Response:
        return Response(200, self._get("user", user_id))

    def create_user(self, request: Request) -> Response:
        body = _json(request)
        email = str(body.get("email") or "").strip().lower()
        if "@" not in email:
            raise _invalid("email", "email_required")
        with self.store.transaction():
            if self.store.find("user", where={"email": [email]}, limit=1):
                raise HTTPError(
                    422,
                    "user_creation_error",
                    "Could not create user.",
                    errors=[{"field": "email", "code": "email_not_available"}],
                )
            user_id, at = _new_id("user")
            user = _user(user_id, email, body.get("first_name"), body.get("last_name"), at)
            user["email_verified"] = bool(body.get("email_verified", False))
            self.store.insert("user", user_id, user)
        return Response(201, user)

    # Memberships ------------------------------------------------------------------------

    def list_memberships(self, request: Request) -> Response:
        organization_id, user_id = request.arg("organization_id"), request.arg("user_id")
        if not organization_id and not user_id:
            raise _invalid("organization_id", "organization_id_or_user_id_required")
        statuses = [
            value.strip()
            for raw in request.query.get("statuses", []) + request.query.get("statuses[]", [])
            for value in raw.split(",")
            if value.strip()
        ] or ["active"]
        if not set(statuses) <= set(STATUSES):
            raise _invalid("statuses", "invalid_status")
        page = self._page(
            request,
            "membership",
            parent=organization_id or None,
            ref=user_id or None,
            where={"status": statuses},
        )
        page["data"] = self._present_memberships(page["data"])
        return Response(200, page)

    def get_membership(self, request: Request, membership_id: str) -> Response:
        return Response(200, self._present_membership(self._get("membership", membership_id)))

    def update_membership(self, request: Request, membership_id: str) -> Response:
        body = _json(request)
        if "role_slug" in body and "role_slugs" in body:
            raise _invalid("role_slugs", "role_slug_and_role_slugs_are_mutually_exclusive")
        if "role_slugs" in body:
            slugs = body["role_slugs"]
        elif "role_slug" in body:
            slugs = [body["role_slug"]]
        else:
            raise _invalid("role_slugs", "role_slug_or_role_slugs_required")
        if not isinstance(slugs, list) or not slugs or not all(isinstance(s, str) for s in slugs):
            raise _invalid("role_slugs", "invalid_role_slugs")
        with self.store.transaction():
            membership = self._get("membership", membership_id)
            known = self._role_slugs(membership["organization_id"])
            if unknown := [s for s in slugs if s not in known]:
                raise HTTPError(
                    422,
                    "invalid_request_parameters",
                    f"Role not found: {', '.join(unknown)}.",
                    errors=[{"field": "role_slugs", "code": "role_not_found"}],
                )
            slugs = list(dict.fromkeys(slugs))
            if slugs != membership["roles"]:
                membership |= {"roles": slugs, "updated_at": timestamp(_now_ms())}
                self.store.put("membership", membership_id, membership)
        return Response(200, self._present_membership(membership))

    def reactivate_membership(self, request: Request, membership_id: str) -> Response:
        return self._transition(membership_id, "active", "reactivate")

    def deactivate_membership(self, request: Request, membership_id: str) -> Response:
        return self._transition(membership_id, "inactive", "deactivate")

    def _transition(self, membership_id: str, target: str, verb: str) -> Response:
        with self.store.transaction():
            membership = self._get("membership", membership_id)
            if membership["status"] == "pending":
                raise HTTPError(
                    400,
                    f"cannot_{verb}_pending_organization_membership",
                    f"Pending organization memberships cannot be {verb}d. "
                    "The invite must be accepted instead.",
                )
            if membership["status"] != target:
                membership |= {"status": target, "updated_at": timestamp(_now_ms())}
                self.store.put("membership", membership_id, membership)
        return Response(200, self._present_membership(membership))

    def _present_memberships(self, memberships: list[dict[str, Any]]) -> list[dict[str, Any]]:
        users = self.store.get_many("user", list({m["user_id"] for m in memberships}))
        return [_membership_json(m, users.get(m["user_id"])) for m in memberships]

    def _present_membership(self, membership: dict[str, Any]) -> dict[str, Any]:
        return _membership_json(membership, self.store.get("user", membership["user_id"]))

    # Roles ------------------------------------------------------------------------------

    def list_environment_roles(self, request: Request) -> Response:
        roles = [doc for _, doc in self.store.find("role", parent="")]
        return Response(200, {"object": "list", "data": roles})

    def list_organization_roles(self, request: Request, organization_id: str) -> Response:
        self._get("organization", organization_id)
        roles = [doc for _, doc in self.store.find("role", parent="")]
        roles += [doc for _, doc in self.store.find("role", parent=organization_id)]
        return Response(200, {"object": "list", "data": roles})

    def get_organization_role(self, request: Request, organization_id: str, slug: str) -> Response:
        self._get("organization", organization_id)
        role = self.store.get("role", _role_key(organization_id, slug)) or self.store.get(
            "role", _role_key("", slug)
        )
        if role is None:
            raise HTTPError(404, "entity_not_found", "Not Found", entity_id=slug)
        return Response(200, role)

    def create_organization_role(self, request: Request, organization_id: str) -> Response:
        body = _json(request)
        name, slug = body.get("name"), body.get("slug")
        description = body.get("description")
        if not isinstance(name, str) or not name.strip() or len(name) > 48:
            raise _invalid("name", "invalid_name")
        if not isinstance(slug, str) or not ROLE_SLUG.match(slug) or len(slug) > 48:
            raise _invalid("slug", "slug_must_start_with_org_and_use_lowercase_letters_digits")
        if description is not None and (not isinstance(description, str) or len(description) > 150):
            raise _invalid("description", "invalid_description")
        with self.store.transaction():
            self._get("organization", organization_id)
            key = _role_key(organization_id, slug)
            if self.store.get("role", key) is not None:
                raise HTTPError(409, "role_slug_conflict", f"A role with slug {slug} exists.")
            role_id, at = _new_id("role")
            role = _role(role_id, slug, name, description, True, at)
            self.store.insert("role", key, role, parent=organization_id)
        return Response(201, role)

    def update_organization_role(
        self, request: Request, organization_id: str, slug: str
    ) -> Response:
        body = _json(request)
        changes = {key: body[key] for key in ("name", "description") if key in body}
        if "name" in changes and (not isinstance(changes["name"], str) or not changes["name"]):
            raise _invalid("name", "invalid_name")
        description = changes.get("description")
        if description is not None and not isinstance(description, str):
            raise _invalid("description", "invalid_description")
        with self.store.transaction():
            self._get("organization", organization_id)
            key = _role_key(organization_id, slug)
            role = self.store.get("role", key)
            if role is None:
                raise HTTPError(404, "entity_not_found", "Not Found", entity_id=slug)
            if any(role[k] != v for k, v in changes.items()):
                role |= changes | {"updated_at": timestamp(_now_ms())}
                self.store.put("role", key, role)
        return Response(200, role)

    def _role_slugs(self, organization_id: str) -> set[str]:
        docs = self.store.find("role", parent="") + self.store.find("role", parent=organization_id)
        return {doc["slug"] for _, doc in docs}

    # Pagination -------------------------------------------------------------------------

    def _page(self, request: Request, kind: str, **filters: Any) -> dict[str, Any]:
        """One page in WorkOS's list envelope, with `before`/`after` cursors."""
        try:
            limit = int(request.arg("limit", "10") or "10")
        except ValueError:
            raise _invalid("limit", "limit_must_be_an_integer") from None
        if not 1 <= limit <= 100:
            raise _invalid("limit", "limit_must_be_between_1_and_100")
        order = request.arg("order", "desc")
        if order not in ("asc", "desc", "normal"):
            raise _invalid("order", "order_must_be_asc_desc_or_normal")
        descending = order != "asc"
        # In "normal" order the listing is descending but `after` fetches newer objects.
        forward, backward = request.arg("after"), request.arg("before")
        if order == "normal":
            forward, backward = backward, forward
        if backward and not forward:
            seq = self._cursor(kind, backward)
            bound = {"after_seq": seq} if descending else {"before_seq": seq}
            rows = self.store.find(
                kind, **bound, descending=not descending, limit=limit + 1, **filters
            )
            more_back, more_forward = len(rows) > limit, True
            rows = list(reversed(rows[:limit]))
        else:
            seq = self._cursor(kind, forward) if forward else None
            bound = {} if seq is None else {"before_seq": seq} if descending else {"after_seq": seq}
            rows = self.store.find(kind, **bound, descending=descending, limit=limit + 1, **filters)
            more_back, more_forward = seq is not None, len(rows) > limit
            rows = rows[:limit]
        data = [doc for _, doc in rows]
        first = data[0]["id"] if data and more_back else None
        last = data[-1]["id"] if data and more_forward else None
        if order == "normal":
            first, last = last, first
        return {"object": "list", "data": data, "list_metadata": {"before": first, "after": last}}

    def _cursor(self, kind: str, id: str) -> int:
        seq = self.store.seq_of(kind, id)
        if seq is None:
            raise _invalid("after", "invalid_pagination_cursor")
        return seq


def _json(request: Request) -> dict[str, Any]:
    try:
        body = request.json()
    except ValueError:
        raise HTTPError(400, "invalid_json", "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise HTTPError(400, "invalid_json", "The request body must be a JSON object.")
    return body


def _invalid(field: str, code: str) -> HTTPError:
    return HTTPError(
        422,
        "invalid_request_parameters",
        "Validation failed",
        errors=[{"field": field, "code": code}],
    )


def _role_key(organization_id: str, slug: str) -> str:
    return f"{organization_id or 'environment'}/{slug}"


def _organization(org_id: str, name: str, domains: list[dict[str, Any]], at: str) -> dict[str, Any]:
    return {
        "object": "organization",
        "id": org_id,
        "name": name,
        "domains": domains,
        "metadata": {},
        "external_id": None,
        "stripe_customer_id": None,
        "allow_profiles_outside_organization": False,
        "created_at": at,
        "updated_at": at,
    }


def _user(user_id: str, email: str, first: Any, last: Any, at: str) -> dict[str, Any]:
    return {
        "object": "user",
        "id": user_id,
        "first_name": first or None,
        "last_name": last or None,
        "name": " ".join(p for p in (first, last) if p) or None,
        "email": email,
        "email_verified": False,
        "profile_picture_url": None,
        "external_id": None,
        "metadata": {},
        "last_sign_in_at": None,
        "locale": None,
        "created_at": at,
        "updated_at": at,
    }


def _role(
    role_id: str, slug: str, name: str, description: str | None, custom: bool, at: str
) -> dict[str, Any]:
    return {
        "object": "role",
        "id": role_id,
        "slug": slug,
        "name": name,
        "description": description,
        "type": "OrganizationRole" if custom else "EnvironmentRole",
        "resource_type_slug": "organization",
        "permissions": [],
        "created_at": at,
        "updated_at": at,
    }


def _membership_json(membership: dict[str, Any], user: dict[str, Any] | None) -> dict[str, Any]:
    roles = membership["roles"]
    return membership | {
        "role": {"slug": roles[0]} if roles else None,
        "roles": [{"slug": slug} for slug in roles],
        "user": user,
    }

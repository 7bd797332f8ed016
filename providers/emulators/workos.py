"""An emulator of WorkOS's organizations, AuthKit users, memberships and roles APIs."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable
from typing import Any

from providers.emulators import workos_wire as wire
from providers.emulators.seed import Dataset, demo_dataset, paused_gc
from providers.emulators.server import EmulatorApp, Handler, HTTPError, Request, Response
from providers.emulators.state import Match, Store
from providers.emulators.webhooks import WebhookSender, workos_headers

EMULATOR_API_KEY = "sk_test_karmo_emulator"
STATUSES = ("active", "inactive", "pending")
ROLE_SLUG = re.compile(r"^org-[a-z0-9_-]+$")
OM = "/user_management/organization_memberships"
# What the emulator records in its event log (GET /events), as WorkOS names them.
EVENT_TYPES = frozenset(
    f"{noun}.{verb}"
    for noun in ("organization", "user", "organization_membership", "organization_role", "role")
    for verb in ("created", "updated", "deleted")
)
ORG_ROLES = "/authorization/organizations/(?P<organization_id>[^/]+)/roles"


class WorkOSEmulator(EmulatorApp):
    """WorkOS's wire format for the subset Karmo uses; state lives in a Store."""

    name = "workos"

    def __init__(self, store: Store | None = None, api_key: str | None = EMULATOR_API_KEY) -> None:
        self.store = store or Store()
        self.api_key = api_key
        self.webhooks = WebhookSender(workos_headers)
        super().__init__()

    def routes(self) -> Iterable[tuple[str, str, Handler]]:
        return [
            ("GET", "/organizations", self.list_organizations),
            ("GET", "/organizations/(?P<organization_id>[^/]+)", self.get_organization),
            ("GET", "/user_management/users", self.list_users),
            ("POST", "/user_management/users", self.create_user),
            ("GET", "/user_management/users/(?P<user_id>[^/]+)", self.get_user),
            ("PUT", "/user_management/users/(?P<user_id>[^/]+)", self.update_user),
            ("GET", "/events", self.list_events),
            ("GET", OM, self.list_memberships),
            ("GET", f"{OM}/(?P<membership_id>[^/]+)", self.get_membership),
            ("PUT", f"{OM}/(?P<membership_id>[^/]+)", self.update_membership),
            ("DELETE", f"{OM}/(?P<membership_id>[^/]+)", self.delete_membership),
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
        body.update({key: value for key, value in error.extra.items() if value is not None})
        return body

    # State ----------------------------------------------------------------------------

    def reset(self, dataset: Dataset | None = None) -> None:
        """Replace all state with `dataset` (the demo data by default) and clear faults."""
        super().reset()
        self.request_count = 0
        with paused_gc(), self.store.transaction():
            self.store.clear()
            wire.load_dataset(self.store, dataset or demo_dataset())

    def _get(self, kind: str, id: str) -> dict[str, Any]:
        doc = self.store.get(kind, id)
        if doc is None:
            raise HTTPError(404, "entity_not_found", "Not Found", entity_id=id)
        return doc

    # Organizations and users ------------------------------------------------------------

    def list_organizations(self, request: Request) -> Response:
        """GET /organizations, filtered by `domains` (comma-joined) and `search` (in the name)."""
        match = []
        domains = [d.strip().lower() for d in (request.arg("domains") or "").split(",")]
        if any(domains):
            match.append(Match("domains", [d for d in domains if d], item_key="domain"))
        if search := (request.arg("search") or "").strip():
            match.append(Match("name", contains=search, ignore_case=True))
        return Response(200, self._page(request, "organization", match=match))

    def get_organization(self, request: Request, organization_id: str) -> Response:
        return Response(200, self._get("organization", organization_id))

    def list_users(self, request: Request) -> Response:
        """GET /user_management/users, by `email` and by `organization_id` (any membership)."""
        where: dict[str, list[str]] = {}
        if email := request.arg("email"):
            where["email"] = [email.lower()]
        # `organization` is the deprecated name of the same filter.
        if organization_id := request.arg("organization_id") or request.arg("organization"):
            seats = self.store.find_raw("membership", parent=organization_id)
            where["id"] = list({json.loads(text)["user_id"] for _, _, text in seats})
        return Response(200, self._page(request, "user", where=where or None))

    def get_user(self, request: Request, user_id: str) -> Response:
        return Response(200, self._get("user", user_id))

    def create_user(self, request: Request) -> Response:
        body = wire.json_body(request)
        email = str(body.get("email") or "").strip().lower()
        if "@" not in email:
            raise wire.invalid("email", "email_required")
        for field in ("first_name", "last_name", "name", "external_id"):
            if not isinstance(body.get(field) or "", str):
                raise wire.invalid(field, "must_be_a_string")
        metadata = body.get("metadata") or {}
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            raise wire.invalid("metadata", "metadata_values_must_be_strings")
        with self.store.transaction():
            if self.store.find("user", where={"email": [email]}, limit=1):
                raise HTTPError(
                    422,
                    "user_creation_error",
                    "Could not create user.",
                    errors=[{"field": "email", "code": "email_not_available"}],
                )
            user_id, at = wire.new_id("user")
            user = wire.user_json(user_id, email, body.get("first_name"), body.get("last_name"), at)
            user |= {
                "email_verified": bool(body.get("email_verified", False)),
                "external_id": body.get("external_id") or None,
                "metadata": metadata,
            }
            if body.get("name"):
                user["name"] = body["name"]
            self.store.insert("user", user_id, user)
            self.emit("user.created", user)
        return Response(201, user)

    def update_user(self, request: Request, user_id: str) -> Response:
        body = wire.json_body(request)
        changes = {key: body[key] for key in ("first_name", "last_name") if key in body}
        for field, value in changes.items():
            if value is not None and not isinstance(value, str):
                raise wire.invalid(field, "must_be_a_string")
        with self.store.transaction():
            user = self._get("user", user_id)
            if any(user[key] != value for key, value in changes.items()):
                user |= changes | {"updated_at": wire.timestamp(wire.now_ms())}
                self.store.put("user", user_id, user)
                self.emit("user.updated", user)
        return Response(200, user)

    # Memberships ------------------------------------------------------------------------

    def list_memberships(self, request: Request) -> Response:
        organization_id, user_id = request.arg("organization_id"), request.arg("user_id")
        if not organization_id and not user_id:
            raise wire.invalid("organization_id", "organization_id_or_user_id_required")
        statuses = [
            value.strip()
            for raw in request.query.get("statuses", []) + request.query.get("statuses[]", [])
            for value in raw.split(",")
            if value.strip()
        ] or ["active"]
        if not set(statuses) <= set(STATUSES):
            raise wire.invalid("statuses", "invalid_status")
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
        body = wire.json_body(request)
        if "role_slug" in body and "role_slugs" in body:
            raise wire.invalid("role_slugs", "role_slug_and_role_slugs_are_mutually_exclusive")
        if "role_slugs" in body:
            slugs = body["role_slugs"]
        elif "role_slug" in body:
            slugs = [body["role_slug"]]
        else:
            raise wire.invalid("role_slugs", "role_slug_or_role_slugs_required")
        if not isinstance(slugs, list) or not slugs or not all(isinstance(s, str) for s in slugs):
            raise wire.invalid("role_slugs", "invalid_role_slugs")
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
                membership |= {"roles": slugs, "updated_at": wire.timestamp(wire.now_ms())}
                self.store.put("membership", membership_id, membership)
                self.emit("organization_membership.updated", wire.membership_json(membership, None))
        return Response(200, self._present_membership(membership))

    def delete_membership(self, request: Request, membership_id: str) -> Response:
        with self.store.transaction():
            membership = self._get("membership", membership_id)
            self.store.delete("membership", membership_id)
            self.emit("organization_membership.deleted", wire.membership_json(membership, None))
        return Response(202)

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
                membership |= {"status": target, "updated_at": wire.timestamp(wire.now_ms())}
                self.store.put("membership", membership_id, membership)
                self.emit("organization_membership.updated", wire.membership_json(membership, None))
        return Response(200, self._present_membership(membership))

    def _present_memberships(self, memberships: list[dict[str, Any]]) -> list[dict[str, Any]]:
        users = self.store.get_many("user", list({m["user_id"] for m in memberships}))
        return [wire.membership_json(m, users.get(m["user_id"])) for m in memberships]

    def _present_membership(self, membership: dict[str, Any]) -> dict[str, Any]:
        return wire.membership_json(membership, self.store.get("user", membership["user_id"]))

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
        role = self.store.get("role", wire.role_key(organization_id, slug)) or self.store.get(
            "role", wire.role_key("", slug)
        )
        if role is None:
            raise HTTPError(404, "entity_not_found", "Not Found", entity_id=slug)
        return Response(200, role)

    def create_organization_role(self, request: Request, organization_id: str) -> Response:
        body = wire.json_body(request)
        name, slug = body.get("name"), body.get("slug")
        description = body.get("description")
        if not isinstance(name, str) or not name.strip() or len(name) > 48:
            raise wire.invalid("name", "invalid_name")
        if slug is None:
            # WorkOS makes one from the name and a random suffix.
            stem = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:32]
            slug = f"org-{stem}-{secrets.token_hex(3)}" if stem else f"org-{secrets.token_hex(3)}"
        if not isinstance(slug, str) or not ROLE_SLUG.match(slug) or len(slug) > 48:
            raise wire.invalid("slug", "slug_must_start_with_org_and_use_lowercase_letters_digits")
        if description is not None and (not isinstance(description, str) or len(description) > 150):
            raise wire.invalid("description", "invalid_description")
        with self.store.transaction():
            self._get("organization", organization_id)
            key = wire.role_key(organization_id, slug)
            if self.store.get("role", key) is not None:
                raise HTTPError(409, "role_slug_conflict", f"A role with slug {slug} exists.")
            role_id, at = wire.new_id("role")
            role = wire.role_json(role_id, slug, name, description, True, at)
            self.store.insert("role", key, role, parent=organization_id)
            self.emit("organization_role.created", role | {"organization_id": organization_id})
        return Response(201, role)

    def update_organization_role(
        self, request: Request, organization_id: str, slug: str
    ) -> Response:
        body = wire.json_body(request)
        changes = {key: body[key] for key in ("name", "description") if key in body}
        if "name" in changes and (not isinstance(changes["name"], str) or not changes["name"]):
            raise wire.invalid("name", "invalid_name")
        description = changes.get("description")
        if description is not None and not isinstance(description, str):
            raise wire.invalid("description", "invalid_description")
        with self.store.transaction():
            self._get("organization", organization_id)
            key = wire.role_key(organization_id, slug)
            role = self.store.get("role", key)
            if role is None:
                raise HTTPError(404, "entity_not_found", "Not Found", entity_id=slug)
            if any(role[k] != v for k, v in changes.items()):
                role |= changes | {"updated_at": wire.timestamp(wire.now_ms())}
                self.store.put("role", key, role)
                self.emit("organization_role.updated", role | {"organization_id": organization_id})
        return Response(200, role)

    # Events -----------------------------------------------------------------------------

    def emit(self, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
        """Record an event in the log `GET /events` reads (inside the change's transaction)."""
        event_id, at = wire.new_id("event")
        event = {
            "object": "event",
            "id": event_id,
            "event": event_type,
            "data": data,
            "created_at": at,
            "context": {},
        }
        self.store.insert("event", event_id, event, parent=event_type)
        self.webhooks.send(event)
        return event

    def list_events(self, request: Request) -> Response:
        wanted = [t for raw in request.query.get("events", []) for t in raw.split(",") if t]
        if not wanted:
            raise wire.invalid("events", "events_required")
        if unknown := sorted(set(wanted) - EVENT_TYPES):
            raise wire.invalid("events", f"unknown_event_type:{unknown[0]}")
        return Response(200, self._page(request, "event", parent=sorted(set(wanted))))

    def expire_events(self) -> int:
        """Forget every recorded event, as WorkOS does after 30 days; cursors into them expire."""
        with self.store.transaction():
            events = self.store.find_raw("event")
            for _, _, text in events:
                self.store.delete("event", json.loads(text)["id"])
        return len(events)

    def _role_slugs(self, organization_id: str) -> set[str]:
        docs = self.store.find("role", parent="") + self.store.find("role", parent=organization_id)
        return {doc["slug"] for _, doc in docs}

    # Pagination -------------------------------------------------------------------------

    def _page(self, request: Request, kind: str, **filters: Any) -> dict[str, Any]:
        """One page in WorkOS's list envelope, with `before`/`after` cursors."""
        try:
            limit = int(request.arg("limit", "10") or "10")
        except ValueError:
            raise wire.invalid("limit", "limit_must_be_an_integer") from None
        if not 1 <= limit <= 100:
            raise wire.invalid("limit", "limit_must_be_between_1_and_100")
        order = request.arg("order", "desc")
        if order not in ("asc", "desc", "normal"):
            raise wire.invalid("order", "order_must_be_asc_desc_or_normal")
        descending = order != "asc"
        # In "normal" order the listing is descending but `after` fetches newer objects.
        forward, backward = request.arg("after"), request.arg("before")
        if order == "normal":
            forward, backward = backward, forward
        if backward and not forward:
            seq = self._cursor(kind, backward, "after" if order == "normal" else "before")
            bound = {"after_seq": seq} if descending else {"before_seq": seq}
            rows = self.store.find(
                kind, **bound, descending=not descending, limit=limit + 1, **filters
            )
            more_back, more_forward = len(rows) > limit, True
            rows = list(reversed(rows[:limit]))
        else:
            field = "before" if order == "normal" else "after"
            seq = self._cursor(kind, forward, field) if forward else None
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

    def _cursor(self, kind: str, id: str, field: str) -> int:
        seq = self.store.seq_of(kind, id)
        if seq is None:
            raise wire.invalid(field, "invalid_pagination_cursor")
        return seq

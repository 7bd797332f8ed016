"""Stytch B2B's JSON documents (organization, member, RBAC policy) and the demo data in them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from providers.emulators.seed import Dataset
from providers.emulators.server import HTTPError
from providers.emulators.state import Store

PROJECT_ID = "project-test-5a1f0e2c-7b3d-4c8e-9f60-000000000001"
SECRET = "secret-test-emulator-Zk9pX2s7QmVtdWxhdG9yLXN0eXRjaA=="
LIVE_STATUSES = ["pending", "invited", "active"]
DIRECT = {"type": "direct_assignment", "details": {}}
_IDS = uuid.UUID("0b6c3d52-2f59-4bb7-8a4e-6d1f3c9e7a10")
_SEEDED_AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
_RESOURCES = [
    {
        "resource_id": "documents",
        "description": "Customer documents",
        "actions": ["create", "read", "update", "delete"],
    },
    {"resource_id": "billing", "description": "Invoices and plans", "actions": ["read", "update"]},
]
_PROJECT_ROLES = [
    {
        "role_id": "stytch_member",
        "description": "Every member holds this role.",
        "permissions": [{"resource_id": "documents", "actions": ["read"]}],
    },
    {
        "role_id": "stytch_admin",
        "description": "Manages the organization's settings and members.",
        "permissions": [{"resource_id": "documents", "actions": ["*"]}],
    },
]
_ORG_ROLE_PERMISSIONS = {
    "org-admin": [
        {"resource_id": "documents", "actions": ["*"]},
        {"resource_id": "billing", "actions": ["*"]},
    ],
    "org-billing": [{"resource_id": "billing", "actions": ["read", "update"]}],
    "org-viewer": [{"resource_id": "documents", "actions": ["read"]}],
}


def stamp(when: datetime | None = None) -> str:
    """An RFC 3339 UTC timestamp as Stytch writes them."""
    return (when or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def bad(error_type: str, message: str, status: int = 400) -> HTTPError:
    """A Stytch error (400 unless told) with its `error_type`."""
    return HTTPError(status, error_type, message)


def member_doc(
    org_id: str,
    member_id: str,
    email: str,
    name: str,
    *,
    verified: bool,
    status: str,
    roles: list[str],
    when: datetime | None = None,
) -> dict[str, Any]:
    """A Member with every field Stytch always sends (strings never null)."""
    created = stamp(when)
    return {
        "organization_id": org_id,
        "member_id": member_id,
        "email_address": email,
        "email_address_verified": verified,
        "status": status,
        "name": name,
        "is_admin": "stytch_admin" in roles,
        "is_breakglass": False,
        "is_locked": False,
        "member_password_id": "",
        "mfa_enrolled": False,
        "mfa_phone_number": "",
        "mfa_phone_number_verified": False,
        "default_mfa_method": "",
        "totp_registration_id": "",
        "oauth_registrations": [],
        "sso_registrations": [],
        "retired_email_addresses": [],
        "external_id": "",
        "scim_registration": None,
        "roles": assign_direct([{"role_id": "stytch_member", "sources": [DIRECT]}], roles),
        "trusted_metadata": {},
        "untrusted_metadata": {},
        "lock_created_at": None,
        "lock_expires_at": None,
        "created_at": created,
        "updated_at": created,
    }


def org_doc(
    org_id: str, name: str, slug: str, domain: str, custom_roles: list[dict[str, Any]]
) -> dict[str, Any]:
    """An Organization with its policy fields, allowed lists and custom roles."""
    created = stamp(_SEEDED_AT)
    return {
        "organization_id": org_id,
        "organization_name": name,
        "organization_slug": slug,
        "organization_external_id": "",
        "organization_logo_url": "",
        "trusted_metadata": {},
        "email_allowed_domains": [domain],
        "email_jit_provisioning": "RESTRICTED",
        "email_invites": "ALL_ALLOWED",
        "auth_methods": "ALL_ALLOWED",
        "allowed_auth_methods": [],
        "mfa_policy": "OPTIONAL",
        "mfa_methods": "ALL_ALLOWED",
        "allowed_mfa_methods": [],
        "sso_jit_provisioning": "ALL_ALLOWED",
        "sso_jit_provisioning_allowed_connections": [],
        "sso_active_connections": [],
        "sso_default_connection_id": None,
        "scim_active_connection": None,
        "rbac_email_implicit_role_assignments": [],
        "custom_roles": custom_roles,
        "oauth_tenant_jit_provisioning": "NOT_ALLOWED",
        "allowed_oauth_tenants": {},
        "claimed_email_domains": [],
        "first_party_connected_apps_allowed_type": "ALL_ALLOWED",
        "allowed_first_party_connected_apps": [],
        "third_party_connected_apps_allowed_type": "ALL_ALLOWED",
        "allowed_third_party_connected_apps": [],
        "created_at": created,
        "updated_at": created,
    }


def assign_direct(current: list[dict[str, Any]], explicit: list[str]) -> list[dict[str, Any]]:
    """Replace the direct assignments; implicit sources (email, SSO, SCIM) stay as they are."""
    out = []
    for entry in current:
        if entry["role_id"] == "stytch_member":
            out.append(entry)
            continue
        sources = [s for s in entry["sources"] if s["type"] != DIRECT["type"]]
        if entry["role_id"] in explicit:
            sources.append(dict(DIRECT))
        if sources:
            out.append({"role_id": entry["role_id"], "sources": sources})
    seen = {entry["role_id"] for entry in out}
    out.extend({"role_id": r, "sources": [dict(DIRECT)]} for r in explicit if r not in seen)
    return out


def checked_org_roles(roles: list[Any], policy: dict[str, Any]) -> list[dict[str, Any]]:
    """Validate an org policy as Stytch does: unique ids, known resources and actions."""
    project_ids = {r["role_id"] for r in policy.get("roles", [])}
    actions = {r["resource_id"]: set(r["actions"]) for r in policy.get("resources", [])}
    checked: list[dict[str, Any]] = []
    for role in roles:
        role_id = role.get("role_id") if isinstance(role, dict) else None
        if not isinstance(role_id, str) or not role_id:
            raise bad("empty_rbac_role_id", "Every role needs a role_id.")
        if role_id in project_ids or role_id.startswith("stytch_"):
            raise bad("invalid_rbac_custom_role", f"{role_id!r} is a project role id.")
        if any(r["role_id"] == role_id for r in checked):
            raise bad("rbac_role_duplicate", f"Role {role_id!r} appears twice.")
        permissions = role.get("permissions") or []
        if not isinstance(permissions, list):
            raise bad("bad_request", "permissions must be a list.")
        for permission in permissions:
            resource = permission.get("resource_id") if isinstance(permission, dict) else None
            wanted = permission.get("actions") if isinstance(permission, dict) else None
            if not isinstance(resource, str) or resource not in actions:
                raise bad("invalid_permission_resource", f"Unknown resource {resource!r}.")
            if not isinstance(wanted, list) or not wanted:
                raise bad("rbac_permission_missing_actions", "A permission needs actions.")
            if not all(isinstance(action, str) for action in wanted):
                raise bad("invalid_permission_action", "Actions must be strings.")
            if "*" in wanted and len(wanted) > 1:
                raise bad("invalid_wildcard_action", "'*' must be the only action.")
            if "*" not in wanted and not set(wanted) <= actions[resource]:
                raise bad("invalid_permission_action", f"Unknown action on {resource!r}.")
        description = role.get("description") or ""
        checked.append(
            {"role_id": role_id, "description": str(description), "permissions": permissions}
        )
    return checked


def load_dataset(store: Store, data: Dataset, environment: str) -> None:
    """Write the demo data as Stytch would hold it: one member per person and organization."""
    env_roles = [
        {
            "role_id": r.slug,
            "description": r.name,
            "permissions": [{"resource_id": "documents", "actions": ["read"]}],
        }
        for r in data.roles
        if r.organization is None
    ]
    policy = {"roles": [*_PROJECT_ROLES, *env_roles], "resources": _RESOURCES, "scopes": []}
    store.insert("policy", "project", policy)
    org_ids: dict[int, str] = {}
    for org in data.organizations:
        org_id = f"organization-{environment}-{uuid.uuid5(_IDS, f'org-{org.key}')}"
        org_ids[org.key] = org_id
        custom = [
            {
                "role_id": r.slug,
                "description": r.name,
                "permissions": _ORG_ROLE_PERMISSIONS.get(r.slug, []),
            }
            for r in data.roles
            if r.organization == org.key
        ]
        slug = org.domain.split(".")[0]
        doc = org_doc(org_id, org.name, slug, org.domain, custom)
        store.insert("organization", org_id, doc, ref=slug)
    people = {p.key: p for p in data.people}
    rows = []
    for index, seat in enumerate(data.memberships):
        person = people[seat.person]
        member_id = f"member-{environment}-{uuid.uuid5(_IDS, f'member-{index}')}"
        # Seed "pending" becomes either of Stytch's two not-yet-joined statuses.
        fallback = "pending" if person.key % 2 else "invited"
        status = {"inactive": "deleted", "active": "active"}.get(seat.status, fallback)
        doc = member_doc(
            org_ids[seat.organization],
            member_id,
            person.email,
            f"{person.first_name} {person.last_name}",
            verified=person.email_verified,
            status=status,
            roles=list(seat.roles),
            when=_SEEDED_AT + timedelta(minutes=index),
        )
        rows.append((member_id, doc, doc["organization_id"], person.email.lower()))
    store.insert_many("member", rows)

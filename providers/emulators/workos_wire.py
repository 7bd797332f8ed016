"""WorkOS's object shapes and ids for the emulator: ULIDs, timestamps, JSON builders."""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from providers.emulators.seed import Dataset
from providers.emulators.server import HTTPError, Request
from providers.emulators.state import Store

SEED_EPOCH_MS = 1_736_154_000_000  # 2025-01-06T09:00:00Z: demo data looks a year old.
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid(ms: int, entropy: bytes) -> str:
    """A ULID string: 48 bits of milliseconds then 80 bits of entropy, Crockford base32."""
    value = (ms << 80) | int.from_bytes(entropy[:10], "big")
    return "".join(CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))


def timestamp(ms: int) -> str:
    """WorkOS's timestamp format: ISO-8601 with milliseconds and Z."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_ms() -> int:
    """Milliseconds since the epoch, for ids and timestamps."""
    return time.time_ns() // 1_000_000


def new_id(prefix: str) -> tuple[str, str]:
    """A fresh prefixed ULID and its creation timestamp."""
    ms = now_ms()
    return f"{prefix}_{ulid(ms, secrets.token_bytes(10))}", timestamp(ms)


def load_dataset(store: Store, data: Dataset) -> None:
    """Insert a provider-neutral dataset as WorkOS objects with deterministic ids."""
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
        orgs[org.key] = organization_json(org_id, org.name, [domain], at)
    store.insert_many("organization", [(o["id"], o, "", "") for o in orgs.values()])
    roles = []
    for role in data.roles:
        org_id = orgs[role.organization]["id"] if role.organization is not None else ""
        role_id, at = ident("role", f"{role.organization}:{role.slug}")
        doc = role_json(role_id, role.slug, role.name, None, bool(org_id), at)
        roles.append((role_key(org_id, role.slug), doc, org_id, ""))
    store.insert_many("role", roles)
    users: dict[int, dict[str, Any]] = {}
    for person in data.people:
        user_id, at = ident("user", person.key)
        users[person.key] = user_json(
            user_id, person.email, person.first_name, person.last_name, at
        ) | {"email_verified": person.email_verified}
    store.insert_many("user", [(u["id"], u, "", "") for u in users.values()])
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
    store.insert_many("membership", rows)


def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object body, or a 400 like WorkOS gives."""
    try:
        body = request.json()
    except ValueError:
        raise HTTPError(400, "invalid_json", "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise HTTPError(400, "invalid_json", "The request body must be a JSON object.")
    return body


def invalid(field: str, code: str) -> HTTPError:
    """A 422 validation error naming one field."""
    return HTTPError(
        422,
        "invalid_request_parameters",
        "Validation failed",
        errors=[{"field": field, "code": code}],
    )


def role_key(organization_id: str, slug: str) -> str:
    """The store id of a role: its organization (or the environment) and slug."""
    return f"{organization_id or 'environment'}/{slug}"


def organization_json(
    org_id: str, name: str, domains: list[dict[str, Any]], at: str
) -> dict[str, Any]:
    """An organization object with every key WorkOS always sends."""
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


def user_json(user_id: str, email: str, first: Any, last: Any, at: str) -> dict[str, Any]:
    """A user object; WorkOS users carry no status."""
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


def role_json(
    role_id: str, slug: str, name: str, description: str | None, custom: bool, at: str
) -> dict[str, Any]:
    """A role object: an environment role, or an organization's own (custom) role."""
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


def membership_json(membership: dict[str, Any], user: dict[str, Any] | None) -> dict[str, Any]:
    """A stored membership as WorkOS sends it: `role`, `roles` objects and the embedded user."""
    roles = membership["roles"]
    return membership | {
        "role": {"slug": roles[0]} if roles else None,
        "roles": [{"slug": slug} for slug in roles],
        "user": user,
    }

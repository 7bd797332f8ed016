"""WorkOS-specific behaviour: its wire format, filters, cursors, errors and role rules."""

from __future__ import annotations

import re
from http import HTTPStatus

import httpx
import pytest

from providers.base import Capability, Status
from providers.emulators.seed import demo_dataset
from providers.emulators.workos import EMULATOR_API_KEY
from providers.errors import (
    ProviderAuthError,
    ProviderConflict,
    ProviderNotFound,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)
from providers.workos import WorkOSProvider
from tests.fixtures.flavors import FAST_RETRY

pytestmark = pytest.mark.django_db
OM = "/user_management/organization_memberships"
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def wire(workos_provider, workos_emulator):
    """A plain HTTP client on the emulator, for checking the wire format itself."""
    with httpx.Client(
        base_url=workos_emulator.url, headers={"Authorization": f"Bearer {EMULATOR_API_KEY}"}
    ) as client:
        yield client


@pytest.fixture
def org_id(wire) -> str:
    return wire.get("/organizations", params={"limit": 1}).json()["data"][0]["id"]


def statuses_of(response: httpx.Response) -> set[str]:
    assert response.status_code == HTTPStatus.OK, response.text
    return {m["status"] for m in response.json()["data"]}


# Wire format -------------------------------------------------------------------------------


def test_objects_carry_every_key_clients_rely_on(wire, org_id):
    membership = wire.get(OM, params={"organization_id": org_id}).json()["data"][0]
    user_keys = {"id", "first_name", "last_name", "profile_picture_url", "email"}
    user_keys |= {"email_verified", "external_id", "last_sign_in_at", "created_at", "updated_at"}
    assert user_keys <= set(membership["user"])
    assert membership["object"] == "organization_membership"
    assert membership["role"] == membership["roles"][0]
    assert isinstance(membership["directory_managed"], bool)
    assert membership["id"].startswith("om_")
    assert TIMESTAMP.match(membership["created_at"])
    organization = wire.get(f"/organizations/{org_id}").json()
    assert {"domain", "organization_id", "id"} <= set(organization["domains"][0])
    roles = wire.get(f"/authorization/organizations/{org_id}/roles").json()
    assert "list_metadata" not in roles
    assert {r["type"] for r in roles["data"]} == {"EnvironmentRole", "OrganizationRole"}


def test_demo_ids_are_deterministic(workos_emulator, wire):
    first = wire.get("/organizations").json()["data"]
    workos_emulator.app.reset()
    assert wire.get("/organizations").json()["data"] == first
    assert re.match(r"^org_[0-9A-HJKMNP-TV-Z]{26}$", first[0]["id"])


def test_a_wrong_key_is_refused(workos_emulator):
    provider = WorkOSProvider(api_key="sk_wrong", base_url=workos_emulator.url, retry=FAST_RETRY)
    with pytest.raises(ProviderAuthError) as caught:
        list(provider.list_organizations())
    provider.close()
    assert caught.value.status_code == HTTPStatus.UNAUTHORIZED
    assert caught.value.request_id.startswith("req-")


# Membership filters -----------------------------------------------------------------------


def test_membership_list_defaults_to_active_only(wire, org_id):
    assert statuses_of(wire.get(OM, params={"organization_id": org_id})) == {"active"}


@pytest.mark.parametrize(
    "query",
    [
        "statuses=inactive,pending",
        "statuses=inactive&statuses=pending",
        "statuses[]=inactive&statuses[]=pending",
    ],
)
def test_membership_statuses_filter_accepts_comma_and_repeated_forms(wire, org_id, query):
    response = wire.get(f"{OM}?organization_id={org_id}&{query}&limit=100")
    assert statuses_of(response) == {"inactive", "pending"}


def test_membership_list_needs_an_organization_or_a_user(wire):
    response = wire.get(OM)
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert response.json()["code"] == "invalid_request_parameters"
    assert response.json()["errors"][0]["field"] == "organization_id"


def test_membership_list_by_user_spans_organizations(wire):
    people = demo_dataset().memberships
    multi = next(p for p in {m.person for m in people} if sum(m.person == p for m in people) > 2)
    email = demo_dataset().people[multi].email
    user = wire.get("/user_management/users", params={"email": email}).json()["data"][0]
    statuses = "active,inactive,pending"
    found = wire.get(OM, params={"user_id": user["id"], "statuses": statuses}).json()["data"]
    assert len({m["organization_id"] for m in found}) == 3


def test_unknown_status_is_rejected(wire, org_id):
    response = wire.get(OM, params={"organization_id": org_id, "statuses": "deleted"})
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY


# Pagination -------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", ["0", "101", "ten"])
def test_limit_outside_1_to_100_is_rejected(wire, limit):
    response = wire.get("/user_management/users", params={"limit": limit})
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert response.json()["errors"] == [
        {"field": "limit", "code": response.json()["errors"][0]["code"]}
    ]


def test_cursors_walk_forward_and_back(wire):
    everything = [
        u["id"] for u in wire.get("/user_management/users", params={"limit": 100}).json()["data"]
    ]
    first = wire.get("/user_management/users").json()
    assert len(first["data"]) == 10
    assert first["list_metadata"]["before"] is None
    after = first["list_metadata"]["after"]
    second = wire.get("/user_management/users", params={"after": after}).json()
    assert [u["id"] for u in second["data"]] == everything[10:20]
    back = wire.get(
        "/user_management/users", params={"before": second["list_metadata"]["before"]}
    ).json()
    assert [u["id"] for u in back["data"]] == everything[:10]
    last = wire.get("/user_management/users", params={"after": everything[-3]}).json()
    assert [u["id"] for u in last["data"]] == everything[-2:]
    assert last["list_metadata"]["after"] is None


def test_ascending_order_reverses_the_listing(wire):
    desc = [
        u["id"] for u in wire.get("/user_management/users", params={"limit": 100}).json()["data"]
    ]
    asc = wire.get("/user_management/users", params={"limit": 100, "order": "asc"}).json()
    assert [u["id"] for u in asc["data"]] == desc[::-1]


def test_unknown_cursor_is_rejected(wire):
    response = wire.get("/user_management/users", params={"after": "user_01NOPE"})
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY


def test_adapter_pages_with_limit_100(workos_provider, workos_emulator):
    workos_emulator.app.reset(demo_dataset(people=250))
    before = workos_emulator.app.request_count
    users = list(workos_provider.list_users())
    assert len({user.id for user in users}) == len(users) == 250
    # 3 pages of 100, read from both ends at once: the chains meet for at most 2 more.
    assert 3 <= workos_emulator.app.request_count - before <= 5


# Memberships ------------------------------------------------------------------------------


def test_role_slug_and_role_slugs_are_mutually_exclusive(wire, org_id):
    membership = wire.get(OM, params={"organization_id": org_id}).json()["data"][0]
    both = wire.put(
        f"{OM}/{membership['id']}", json={"role_slug": "member", "role_slugs": ["admin"]}
    )
    assert both.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    single = wire.put(f"{OM}/{membership['id']}", json={"role_slug": "org-viewer"})
    assert single.json()["roles"] == [{"slug": "org-viewer"}]
    assert single.json()["role"] == {"slug": "org-viewer"}


def test_unknown_role_slug_is_rejected(workos_provider):
    active = next(m for m in workos_provider.list_memberships() if m.status == Status.ACTIVE)
    with pytest.raises(ProviderRejected, match="org-nonexistent"):
        workos_provider.set_membership_roles(active, ("org-nonexistent",))


def test_deactivating_a_pending_membership_is_refused(workos_provider):
    pending = next(m for m in workos_provider.list_memberships() if m.status == Status.PENDING)
    with pytest.raises(ProviderConflict) as caught:
        workos_provider.deactivate_membership(pending)
    assert caught.value.status_code == HTTPStatus.BAD_REQUEST
    assert caught.value.code == "cannot_deactivate_pending_organization_membership"


def test_reactivating_pending_keeps_workos_code_and_request_id(workos_provider):
    pending = next(m for m in workos_provider.list_memberships() if m.status == Status.PENDING)
    with pytest.raises(ProviderConflict) as caught:
        workos_provider.reactivate_membership(pending)
    assert caught.value.code == "cannot_reactivate_pending_organization_membership"
    assert caught.value.body["code"] == caught.value.code
    assert re.match(r"^req-[0-9a-f]{20}$", caught.value.request_id)


def test_no_op_reactivation_sends_no_write(workos_provider, workos_emulator):
    active = next(m for m in workos_provider.list_memberships() if m.status == Status.ACTIVE)
    before = workos_emulator.app.request_count
    result = workos_provider.reactivate_membership(active)
    assert (result.changed, workos_emulator.app.request_count - before) == (False, 1)
    assert result.request_id


# Roles ------------------------------------------------------------------------------------


def test_role_slug_must_start_with_org(workos_provider, org_id):
    with pytest.raises(ProviderRejected) as caught:
        workos_provider.upsert_organization_role(org_id, "billing", "Billing")
    assert caught.value.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert "slug" in caught.value.message


def test_duplicate_role_slug_conflicts_on_the_wire(wire, org_id):
    response = wire.post(
        f"/authorization/organizations/{org_id}/roles", json={"slug": "org-admin", "name": "Again"}
    )
    assert response.status_code == HTTPStatus.CONFLICT


def test_environment_role_is_not_upserted_as_an_organization_role(workos_provider, org_id):
    with pytest.raises(ProviderConflict, match="environment role"):
        workos_provider.upsert_organization_role(org_id, "admin", "Admin")


def test_unchanged_role_upsert_writes_nothing(workos_provider, workos_emulator, org_id):
    before = workos_emulator.app.request_count
    result = workos_provider.upsert_organization_role(org_id, "org-admin", "Organization Admin")
    assert (result.changed, workos_emulator.app.request_count - before) == (False, 1)


def test_role_created_concurrently_is_updated_instead(workos_provider, workos_emulator, org_id):
    # The GET misses (as if another client created the role just after), the POST then conflicts.
    workos_emulator.app.faults.configure({"fail": [404]})
    result = workos_provider.upsert_organization_role(org_id, "org-admin", "Org Owner")
    assert result.value.name == "Org Owner"
    assert result.value.id.startswith("role_")


def test_create_user_with_a_taken_email_is_rejected(workos_provider):
    taken = next(iter(workos_provider.list_users())).email
    with pytest.raises(ProviderRejected) as caught:
        workos_provider.create_user(taken)
    assert caught.value.code == "user_creation_error"
    assert "email_not_available" in caught.value.message


def test_user_and_organization_status_changes_are_unsupported(workos_provider):
    unsupported = set(Capability) - workos_provider.capabilities
    assert unsupported == {
        Capability.ACTIVATE_USER,
        Capability.DEACTIVATE_USER,
        Capability.REACTIVATE_ORGANIZATION,
        Capability.DEACTIVATE_ORGANIZATION,
    }
    assert "membership" in workos_provider.unsupported_reasons[Capability.ACTIVATE_USER]


# Error mapping ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, ProviderRejected),
        (401, ProviderAuthError),
        (403, ProviderAuthError),
        (404, ProviderNotFound),
        (409, ProviderConflict),
        (422, ProviderRejected),
        (429, ProviderRateLimited),
        (500, ProviderUnavailable),
        (502, ProviderUnavailable),
        (503, ProviderUnavailable),
        (504, ProviderUnavailable),
    ],
)
def test_every_error_status_maps_to_one_provider_error(
    workos_provider, workos_emulator, org_id, status, error
):
    workos_emulator.app.faults.configure({"fail": [status] * (FAST_RETRY.max_retries + 1)})
    with pytest.raises(error) as caught:
        workos_provider.get_organization(org_id)
    assert type(caught.value) is error
    assert caught.value.status_code == status
    assert caught.value.request_id.startswith("req-")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/user_management/users", b'{"email": "a@b.example", "first_name": 5}'),
        ("POST", "/user_management/users", b"[]"),
        ("PUT", f"{OM}/{{om}}", b"not json"),
        ("PUT", f"{OM}/{{om}}", b'{"role_slugs": [1]}'),
        ("POST", "/authorization/organizations/{org}/roles", b'{"slug": 5, "name": "x"}'),
        ("PATCH", "/authorization/organizations/{org}/roles/org-admin", b'{"name": 5}'),
    ],
)
def test_malformed_bodies_get_a_client_error(wire, org_id, method, path, body):
    om = wire.get(OM, params={"organization_id": org_id}).json()["data"][0]["id"]
    response = wire.request(method, path.format(om=om, org=org_id), content=body)
    assert response.status_code in (HTTPStatus.BAD_REQUEST, HTTPStatus.UNPROCESSABLE_ENTITY)
    assert response.json()["code"]

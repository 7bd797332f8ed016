"""Stytch's official Python SDK (B2B client) against the emulator, every operation Karmo uses.

Each test calls the SDK as a user would, then checks the raw answer strictly against the
SDK's own response model (no undeclared keys, no coerced types) and what it says.
"""

from __future__ import annotations

import pytest
from stytch.b2b.models import organizations as org_models
from stytch.b2b.models import organizations_members as member_models
from stytch.b2b.models import rbac as rbac_models
from stytch.b2b.models import rbac_organizations as org_policy_models
from stytch.core.response_base import StytchError, StytchErrorDetails

from tests.sdk.strict import strictly


@pytest.fixture
def answered(stytch_sdk_emulator):
    """The last answer the emulator sent, validated strictly as a given model."""
    return lambda model: strictly(model, stytch_sdk_emulator.app.last_body)


@pytest.fixture
def org(stytch_sdk):
    return stytch_sdk.organizations.search().organizations[0]


def a_member(client, org_id: str, status: str = "active"):
    query = {"operator": "AND", "operands": [{"filter_name": "statuses", "filter_value": [status]}]}
    return client.organizations.members.search(organization_ids=[org_id], query=query).members[0]


def test_organizations_search_pages_with_the_sdk_cursor(stytch_sdk, answered):
    first = stytch_sdk.organizations.search(limit=2)
    strictly_first = answered(org_models.SearchResponse)
    second = stytch_sdk.organizations.search(limit=2, cursor=first.results_metadata.next_cursor)
    answered(org_models.SearchResponse)
    assert len(first.organizations) == 2
    assert strictly_first.results_metadata.total == first.results_metadata.total > 2
    assert {o.organization_id for o in first.organizations}.isdisjoint(
        o.organization_id for o in second.organizations
    )


def test_organizations_search_filters_by_name(stytch_sdk, org, answered):
    name = org.organization_name
    query = {
        "operator": "AND",
        "operands": [{"filter_name": "organization_name_fuzzy", "filter_value": name[:5]}],
    }
    found = stytch_sdk.organizations.search(query=query)
    answered(org_models.SearchResponse)
    assert org.organization_id in {o.organization_id for o in found.organizations}
    assert all(name[:5].lower() in o.organization_name.lower() for o in found.organizations)


def test_organizations_get(stytch_sdk, org, answered):
    got = stytch_sdk.organizations.get(org.organization_id)
    assert answered(org_models.GetResponse).organization.organization_id == org.organization_id
    assert got.organization.organization_name == org.organization_name
    assert got.organization.created_at is not None


def test_members_search_answers_members_and_their_organizations(stytch_sdk, org, answered):
    found = stytch_sdk.organizations.members.search(organization_ids=[org.organization_id])
    strict = answered(member_models.SearchResponse)
    assert found.members
    assert set(strict.organizations) == {org.organization_id}
    assert {m.status for m in found.members} <= {"active", "pending", "invited"}


def test_members_get_by_id_and_by_email(stytch_sdk, org, answered):
    member = a_member(stytch_sdk, org.organization_id)
    by_id = stytch_sdk.organizations.members.get(org.organization_id, member_id=member.member_id)
    answered(member_models.GetResponse)
    by_email = stytch_sdk.organizations.members.get(
        org.organization_id, email_address=member.email_address
    )
    answered(member_models.GetResponse)
    assert by_id.member.member_id == by_email.member.member_id == member.member_id
    assert by_id.organization.organization_id == org.organization_id


def test_members_dangerously_get_sees_deleted_members(stytch_sdk, org, answered):
    member = a_member(stytch_sdk, org.organization_id, "deleted")
    got = stytch_sdk.organizations.members.dangerously_get(member.member_id, include_deleted=True)
    answered(member_models.GetResponse)
    assert got.member.status == "deleted"


def test_members_create_update_delete_and_reactivate(stytch_sdk, org, answered):
    members = stytch_sdk.organizations.members
    created = members.create(
        org.organization_id, "new.person@example.com", name="New Person", external_id="ext-1"
    )
    strict = answered(member_models.CreateResponse)
    assert strict.member.external_id == "ext-1"
    assert created.member.status == "active"
    member_id = created.member_id
    updated = members.update(org.organization_id, member_id, roles=["stytch_admin"])
    answered(member_models.UpdateResponse)
    assert {r.role_id for r in updated.member.roles} == {"stytch_member", "stytch_admin"}
    deleted = members.delete(org.organization_id, member_id)
    answered(member_models.DeleteResponse)
    assert deleted.member_id == member_id
    # A new member's email is unverified, so Stytch refuses to reactivate it.
    with pytest.raises(StytchError) as refused:
        members.reactivate(org.organization_id, member_id)
    strictly(StytchErrorDetails, refused.value.details.original_json)
    assert refused.value.details.error_type == "email_unverified_for_reactivation"


def test_members_reactivate_a_deleted_verified_member(stytch_sdk, org, answered):
    member = a_member(stytch_sdk, org.organization_id, "deleted")
    if not member.email_address_verified:
        pytest.fail("the demo data should hold a deleted member with a verified email")
    back = stytch_sdk.organizations.members.reactivate(org.organization_id, member.member_id)
    answered(member_models.ReactivateResponse)
    assert back.member.status == "active"


def test_rbac_policy(stytch_sdk, answered):
    policy = stytch_sdk.rbac.policy().policy
    answered(rbac_models.PolicyResponse)
    assert {"stytch_member", "stytch_admin"} <= {r.role_id for r in policy.roles}
    assert policy.resources


def test_org_policy_get_and_set(stytch_sdk, org, answered):
    rbac = stytch_sdk.rbac.organizations
    before = rbac.get_org_policy(org.organization_id).org_policy
    answered(org_policy_models.GetOrgPolicyResponse)
    role = {
        "role_id": "org-auditor",
        "description": "Reads documents",
        "permissions": [{"resource_id": "documents", "actions": ["read"]}],
    }
    roles = [r.model_dump() for r in before.roles] + [role]
    after = rbac.set_org_policy(org.organization_id, {"roles": roles}).org_policy
    answered(org_policy_models.SetOrgPolicyResponse)
    assert [r.role_id for r in after.roles] == [r["role_id"] for r in roles]


def test_errors_parse_into_the_sdk_error_details(stytch_sdk, org):
    with pytest.raises(StytchError) as missing:
        stytch_sdk.organizations.members.get(org.organization_id, member_id="member-test-nope")
    details = missing.value.details
    strictly(StytchErrorDetails, details.original_json)
    assert (details.status_code, details.error_type) == (404, "member_not_found")
    assert details.request_id.startswith("request-id-test-")
    assert details.error_url.endswith("#member_not_found")


def test_rate_limited_answers_parse_into_the_sdk_error(stytch_sdk, stytch_sdk_emulator):
    stytch_sdk_emulator.app.faults.configure({"rate_limit": {"limit": 1, "window": 60}})
    stytch_sdk.organizations.search()
    with pytest.raises(StytchError) as limited:
        stytch_sdk.organizations.search()
    strictly(StytchErrorDetails, limited.value.details.original_json)
    assert (limited.value.details.status_code, limited.value.details.error_type) == (
        429,
        "too_many_requests",
    )

"""WorkOS's official Python SDK against the emulator, every operation Karmo uses.

Each test calls the SDK as a user would, then checks the raw answer strictly against the
model the SDK parsed it into (no undeclared keys, no coerced types) and what it says.
"""

from __future__ import annotations

import pytest
import workos
from workos.common.models import (
    EntityNotFoundErrorBody,
    RateLimitExceededErrorBodyWithRetryAfter,
)
from workos.organization_membership._resource import RoleMultiple, RoleSingle

from tests.sdk.strict import strictly, typed

ENVELOPE = {"object", "data", "list_metadata"}


@pytest.fixture
def answered(workos_sdk_emulator):
    """Check the last answer strictly as the SDK's parsed value (an object or a page)."""

    def check(parsed):
        raw = workos_sdk_emulator.app.last_body
        if isinstance(parsed, workos.SyncPage):
            assert set(raw) == ENVELOPE
            strictly(workos.ListMetadata, raw["list_metadata"])
            for item, value in zip(raw["data"], parsed.data, strict=True):
                strictly(type(value), item)
        else:
            strictly(type(parsed), raw)
        return raw

    return check


@pytest.fixture
def org(workos_sdk):
    return workos_sdk.organizations.list_organizations(limit=1).data[0]


def test_list_organizations_pages_forward(workos_sdk, answered):
    first = workos_sdk.organizations.list_organizations(limit=2)
    answered(first)
    second = workos_sdk.organizations.list_organizations(limit=2, after=first.after)
    answered(second)
    assert len(first.data) == 2
    assert {o.id for o in first.data}.isdisjoint(o.id for o in second.data)
    assert len(list(workos_sdk.organizations.list_organizations(limit=2).auto_paging_iter())) > 4


def test_list_organizations_filters_by_domain_and_by_name(workos_sdk, org, answered):
    domain = org.domains[0].domain
    by_domain = workos_sdk.organizations.list_organizations(domains=[domain, "nobody.example"])
    answered(by_domain)
    assert [o.id for o in by_domain.data] == [org.id]
    word = org.name.split()[0].upper()
    by_name = workos_sdk.organizations.list_organizations(search=word, limit=100)
    answered(by_name)
    assert org.id in {o.id for o in by_name.data}
    assert all(word.lower() in o.name.lower() for o in by_name.data)
    nothing = workos_sdk.organizations.list_organizations(search="no such organization")
    assert nothing.data == []


def test_get_organization(workos_sdk, org, answered):
    got = workos_sdk.organizations.get_organization(org.id)
    answered(got)
    assert got.id == org.id


def test_list_users_by_organization_and_email(workos_sdk, org, answered):
    seats = workos_sdk.organization_membership.list_organization_memberships(
        organization_id=org.id, statuses=["active", "inactive", "pending"], limit=100
    )
    answered(seats)
    members = {m.user_id for m in seats.data}
    users = workos_sdk.user_management.list_users(organization_id=org.id, limit=100)
    answered(users)
    assert {u.id for u in users.data} == members
    one = users.data[0]
    by_email = workos_sdk.user_management.list_users(email=one.email.upper())
    assert [u.id for u in by_email.data] == [one.id]


def test_get_user(workos_sdk, answered):
    user = workos_sdk.user_management.list_users(limit=1).data[0]
    got = workos_sdk.user_management.get_user(user.id)
    answered(got)
    assert got.email == user.email


def test_create_user_keeps_every_field_it_was_given(workos_sdk, answered):
    created = workos_sdk.user_management.create_user(
        email="Ada.Lovelace@Example.com",
        first_name="Ada",
        last_name="Lovelace",
        name="Countess Ada",
        email_verified=True,
        external_id="crm-1815",
        metadata={"team": "analytics"},
    )
    answered(created)
    assert (created.email, created.name, created.external_id) == (
        "ada.lovelace@example.com",
        "Countess Ada",
        "crm-1815",
    )
    assert created.metadata == {"team": "analytics"}
    assert workos_sdk.user_management.get_user(created.id).external_id == "crm-1815"


def test_membership_get_update_deactivate_reactivate(workos_sdk, org, answered):
    service = workos_sdk.organization_membership
    seat = service.list_organization_memberships(organization_id=org.id, limit=1).data[0]
    assert service.get_organization_membership(seat.id).id == seat.id
    answered(service.get_organization_membership(seat.id))
    roles = workos_sdk.authorization.list_organization_roles(org.id).data
    slugs = [r.slug for r in roles[:2]]
    updated = service.update_organization_membership(seat.id, role=RoleMultiple(role_slugs=slugs))
    answered(updated)
    assert [r.slug for r in updated.roles] == slugs
    single = service.update_organization_membership(seat.id, role=RoleSingle(role_slug=slugs[0]))
    assert single.role.slug == slugs[0]
    off = service.deactivate_organization_membership(seat.id)
    answered(off)
    on = service.reactivate_organization_membership(seat.id)
    answered(on)
    assert (off.status, on.status) == ("inactive", "active")


def test_environment_and_organization_roles(workos_sdk, org, answered):
    environment = workos_sdk.authorization.list_environment_roles()
    answered(environment)
    assert environment.data
    roles = workos_sdk.authorization.list_organization_roles(org.id)
    answered(roles)
    created = workos_sdk.authorization.create_organization_role(
        org.id, name="Billing Viewers", description="Reads invoices"
    )
    answered(created)
    assert created.slug.startswith("org-billing-viewers-")
    got = workos_sdk.authorization.get_organization_role(org.id, created.slug)
    answered(got)
    renamed = workos_sdk.authorization.update_organization_role(
        org.id, created.slug, name="Invoice Readers"
    )
    answered(renamed)
    assert (renamed.slug, renamed.name) == (created.slug, "Invoice Readers")
    named = workos_sdk.authorization.create_organization_role(
        org.id, slug="org-auditors", name="Auditors"
    )
    assert named.slug == "org-auditors"


def test_not_found_is_the_sdk_not_found_error(workos_sdk, workos_sdk_emulator):
    with pytest.raises(workos.NotFoundError) as missing:
        workos_sdk.organizations.get_organization("org_01NOSUCHORGANIZATION0000")
    typed(EntityNotFoundErrorBody, workos_sdk_emulator.app.last_body)
    assert missing.value.code == "entity_not_found"
    assert missing.value.request_id.startswith("req-")


def test_invalid_parameters_are_the_sdk_unprocessable_error(workos_sdk):
    with pytest.raises(workos.UnprocessableEntityError) as refused:
        workos_sdk.authorization.create_organization_role(
            workos_sdk.organizations.list_organizations(limit=1).data[0].id,
            slug="Not A Slug",
            name="Bad",
        )
    assert refused.value.code == "invalid_request_parameters"
    assert refused.value.errors[0]["field"] == "slug"


def test_rate_limits_carry_retry_after_in_header_and_body(workos_sdk, workos_sdk_emulator):
    workos_sdk_emulator.app.faults.configure(
        {"rate_limit": {"limit": 1, "window": 60, "retry_after": "7"}}
    )
    workos_sdk.organizations.list_organizations(limit=1)
    with pytest.raises(workos.RateLimitExceededError) as limited:
        workos_sdk.organizations.list_organizations(limit=1)
    body = strictly(RateLimitExceededErrorBodyWithRetryAfter, workos_sdk_emulator.app.last_body)
    assert limited.value.retry_after == body.retry_after == 7.0
    assert limited.value.code == "rate_limit_exceeded"

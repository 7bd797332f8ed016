"""Write endpoints through the services against the WorkOS emulator (and ZITADEL's for what
WorkOS cannot do): the two seed operations' exact answers, audit, provider failures."""

from __future__ import annotations

import pytest

from accounts.models import (
    ApiToken,
    MirrorStatus,
    Organization,
    OrganizationMembership,
    OrganizationRole,
    Outcome,
    ProviderUser,
)
from tests.factories import OrganizationFactory, ProviderUserFactory
from tests.fixtures.app_provider import load_mirror, membership_in
from tests.fixtures.audit import assert_audited
from tests.test_api.conftest import assert_envelope

pytestmark = pytest.mark.django_db(transaction=True)


def path_of(membership: OrganizationMembership) -> str:
    return f"/orgs/{membership.organization.external_id}/users/{membership.user.external_id}"


def test_reactivate_answers_exactly_the_seed_shape_and_is_audited_as_api(
    mirrored, manager, manager_api, workos_emulator
):
    target = membership_in(MirrorStatus.INACTIVE)
    response = manager_api.post(f"{path_of(target)}/reactivate")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "orgId": target.organization.external_id,
        "userId": target.user.external_id,
        "roles": target.role_slugs,
        "status": "active",
    }
    assert mirrored.get_membership(target.external_id).status == "active"
    event = assert_audited("membership.reactivated", target=target, outcome=Outcome.SUCCEEDED)
    assert event.via == "api"
    assert event.token_id == ApiToken.objects.get(user=manager).pk
    assert event.actor == manager


def test_help_desk_token_must_request_reactivation(mirrored, help_desk_api, workos_emulator):
    target = membership_in(MirrorStatus.INACTIVE)
    calls = workos_emulator.app.request_count
    body = assert_envelope(help_desk_api.post(f"{path_of(target)}/reactivate"), 403, "40302002")
    assert body["meta"]["requestEndpoint"] == "/api/v1/reactivation-requests"
    assert body["meta"]["requestMethod"] == "POST"
    assert workos_emulator.app.request_count == calls
    event = assert_audited("membership.reactivated", target=target, outcome=Outcome.DENIED)
    assert event.via == "api"


def test_pending_membership_cannot_be_reactivated_409(mirrored, manager_api):
    target = membership_in(MirrorStatus.PENDING)
    assert_envelope(manager_api.post(f"{path_of(target)}/reactivate"), 409, "40905001")


def test_reactivating_an_unknown_membership_is_404(mirrored, manager_api):
    target = membership_in(MirrorStatus.INACTIVE)
    org = target.organization.external_id
    assert_envelope(manager_api.post(f"/orgs/{org}/users/user_nobody/reactivate"), 404, "40405002")


def test_provider_rate_limit_is_429_passing_retry_after_through(
    mirrored, manager_api, workos_emulator
):
    target = membership_in(MirrorStatus.INACTIVE)
    workos_emulator.app.faults.configure(
        {"rate_limit": {"limit": 1, "window": 60, "retry_after": "7"}}
    )
    mirrored.get_organization(target.organization.external_id)  # uses up the one allowed call
    response = manager_api.post(f"{path_of(target)}/reactivate")
    body = assert_envelope(response, 429, "42904001")
    assert response["Retry-After"] == "7"
    assert body["meta"]["provider"] == "workos"


def test_provider_outage_is_503_and_leaves_the_mirror(mirrored, manager_api, workos_emulator):
    target = membership_in(MirrorStatus.INACTIVE)
    workos_emulator.app.faults.configure({"fail": [503]})
    assert_envelope(manager_api.post(f"{path_of(target)}/reactivate"), 503, "50304002")
    target.refresh_from_db()
    assert target.status == MirrorStatus.INACTIVE


def test_unconfigured_provider_is_503_while_reads_still_work(mirrored, manager_api, settings):
    settings.WORKOS_API_KEY = ""
    target = membership_in(MirrorStatus.INACTIVE)
    body = assert_envelope(manager_api.post(f"{path_of(target)}/reactivate"), 503, "50304001")
    assert body["message"].startswith("Access-management provider is not configured")
    assert manager_api.get(path_of(target)).status_code == 200


def test_upsert_role_answers_exactly_the_provider_role_id(mirrored, manager_api):
    org = Organization.objects.order_by("external_id").first()
    response = manager_api.put(
        f"/orgs/{org.external_id}/roles/org-support", {"name": "Organization Admin"}
    )
    assert response.status_code == 200, response.content
    role = OrganizationRole.objects.get(organization=org, slug="org-support")
    assert response.json() == {"id": role.external_id}
    assert role.name == "Organization Admin"
    renamed = manager_api.put(f"/orgs/{org.external_id}/roles/org-support", {"name": "Support"})
    assert renamed.json() == {"id": role.external_id}
    role.refresh_from_db()
    assert role.name == "Support"
    assert_audited("role.upserted", outcome=Outcome.SUCCEEDED, via="api")


def test_help_desk_cannot_change_roles(mirrored, help_desk_api):
    org = Organization.objects.order_by("external_id").first()
    response = help_desk_api.put(f"/orgs/{org.external_id}/roles/org-x", {"name": "X"})
    assert_envelope(response, 403, "40302001")


def test_set_membership_roles_answers_the_membership(mirrored, manager_api):
    target = membership_in(MirrorStatus.ACTIVE)
    org_role = OrganizationRole.objects.filter(organization=target.organization).first()
    wanted = sorted({"member", org_role.slug} if org_role else {"member"})
    response = manager_api.put(f"{path_of(target)}/roles", {"roles": wanted})
    assert response.status_code == 200, response.content
    assert response.json()["roles"] == wanted
    assert target.role_slugs == wanted


def test_unknown_role_is_422(mirrored, manager_api):
    target = membership_in(MirrorStatus.ACTIVE)
    response = manager_api.put(f"{path_of(target)}/roles", {"roles": ["org-no-such-role"]})
    assert_envelope(response, 422, "42203003")


def test_create_user_answers_201_with_the_user(mirrored, manager_api):
    response = manager_api.post(
        "/users", {"email": "new.person@customer.example", "firstName": "New", "lastName": "P"}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"id", "email", "firstName", "lastName", "status"}
    assert (body["email"], body["firstName"], body["lastName"]) == (
        "new.person@customer.example",
        "New",
        "P",
    )
    assert ProviderUser.objects.get(external_id=body["id"]).email == body["email"]


def test_create_user_refuses_an_invalid_email_with_a_pointer(mirrored, manager_api):
    result = assert_envelope(manager_api.post("/users", {"email": "not-an-email"}), 422, "42200001")
    assert result["errors"][0]["pointer"] == "/email"


def test_workos_cannot_activate_users_or_reactivate_organizations(app_provider, manager_api):
    user = ProviderUserFactory(provider="workos", status=MirrorStatus.INACTIVE)
    org = OrganizationFactory(provider="workos", status=MirrorStatus.INACTIVE)
    assert_envelope(manager_api.post(f"/users/{user.external_id}/activate"), 422, "42204001")
    assert_envelope(manager_api.post(f"/orgs/{org.external_id}/reactivate"), 422, "42204001")


@pytest.fixture
def zitadel_mirrored(settings, zitadel_emulator, zitadel_provider):
    """The sandbox in ZITADEL flavour on the emulator, mirrored: it can activate users."""
    settings.KARMO_PROVIDER = "sandbox"
    settings.KARMO_SANDBOX_FLAVOR = "zitadel"
    settings.KARMO_SANDBOX_URL = zitadel_emulator.url
    settings.KARMO_PROVIDER_MAX_RETRIES = 0
    load_mirror(zitadel_provider)
    return zitadel_provider


def test_activate_user_and_reactivate_organization_where_supported(zitadel_mirrored, manager_api):
    user = ProviderUser.objects.filter(status=MirrorStatus.INACTIVE).first()
    response = manager_api.post(f"/users/{user.external_id}/activate")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "active"
    assert zitadel_mirrored.get_user(user.external_id).status == "active"
    org = Organization.objects.filter(status=MirrorStatus.INACTIVE).first()
    response = manager_api.post(f"/orgs/{org.external_id}/reactivate")
    assert response.status_code == 200, response.content
    assert response.json() == {"id": org.external_id, "name": org.name, "status": "active"}


def test_help_desk_cannot_activate_directly(zitadel_mirrored, help_desk_api):
    user = ProviderUser.objects.filter(status=MirrorStatus.INACTIVE).first()
    body = assert_envelope(
        help_desk_api.post(f"/users/{user.external_id}/activate"), 403, "40302002"
    )
    assert body["meta"]["requestEndpoint"] == "/api/v1/reactivation-requests"

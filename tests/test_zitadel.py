"""ZITADEL-specific behaviour: preconditions, org context header, v3alpha, error bodies, paging."""

from __future__ import annotations

from http import HTTPStatus

import httpx
import pytest

from providers.base import Capability, Status
from providers.emulators.zitadel import DEFAULT_TOKEN, PROJECT_ID
from providers.errors import (
    ProviderAuthError,
    ProviderConflict,
    ProviderNotConfigured,
    ProviderNotFound,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
    ProviderUnsupported,
)
from providers.registry import get_provider
from providers.zitadel import ZitadelProvider
from providers.zitadel_wire import parse_error
from tests.fixtures.flavors import FAST_RETRY, TEST_TIMEOUT
from tests.fixtures.zitadel import PAGE_SIZE

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(zitadel_emulator, zitadel_provider):
    """A raw client on the (freshly reset) emulator, for checking the wire format itself."""
    headers = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
    with httpx.Client(base_url=zitadel_emulator.url, headers=headers) as client:
        yield client


def user_in(provider: ZitadelProvider, raw_status: str):
    return next(u for u in provider.list_users() if u.raw_status == raw_status)


# Users: v2 preconditions -------------------------------------------------------------------


def test_activating_an_inactive_user_uses_v2_reactivate(zitadel_provider):
    inactive = user_in(zitadel_provider, "USER_STATE_INACTIVE")

    result = zitadel_provider.activate_user(inactive.id)

    assert (result.value.status, result.value.raw_status) == (Status.ACTIVE, "USER_STATE_ACTIVE")
    assert result.request_id
    assert zitadel_provider.get_user(inactive.id).status == Status.ACTIVE


def test_activating_an_active_user_is_a_clear_precondition_conflict(zitadel_provider):
    active = user_in(zitadel_provider, "USER_STATE_ACTIVE")
    with pytest.raises(ProviderConflict) as caught:
        zitadel_provider.activate_user(active.id)
    error = caught.value
    assert (error.status_code, error.code) == (HTTPStatus.BAD_REQUEST, "COMMAND-s5qqcz97hf")
    assert error.message == "User is not inactive"
    assert error.request_id
    assert error.body["code"] == 9


@pytest.mark.parametrize(
    ("raw_status", "error_id", "message"),
    [
        ("USER_STATE_INACTIVE", "COMMAND-5gunjw0cd7", "User already inactive"),
        (
            "USER_STATE_INITIAL",
            "COMMAND-gvx4kct9r2",
            "User with state initial can only be deleted not deactivated",
        ),
    ],
)
def test_deactivating_a_user_checks_its_state(zitadel_provider, raw_status, error_id, message):
    user = user_in(zitadel_provider, raw_status)
    with pytest.raises(ProviderConflict) as caught:
        zitadel_provider.deactivate_user(user.id)
    assert (caught.value.code, caught.value.message) == (error_id, message)
    assert zitadel_provider.get_user(user.id).raw_status == raw_status


def test_user_states_are_normalised_and_kept_raw(zitadel_provider):
    statuses = {(u.raw_status, u.status) for u in zitadel_provider.list_users()}
    assert statuses == {
        ("USER_STATE_ACTIVE", Status.ACTIVE),
        ("USER_STATE_INACTIVE", Status.INACTIVE),
        ("USER_STATE_INITIAL", Status.PENDING),
    }


def test_user_state_changes_are_not_repeated_after_they_may_have_been_sent(
    zitadel_provider, zitadel_emulator
):
    active = user_in(zitadel_provider, "USER_STATE_ACTIVE")
    zitadel_emulator.app.faults.configure({"drop": 1})
    before = zitadel_emulator.app.request_count

    with pytest.raises(ProviderUnavailable):
        zitadel_provider.deactivate_user(active.id)

    assert zitadel_emulator.app.request_count - before == 1


def test_unknown_user_is_not_found_with_zitadels_error_id(zitadel_provider):
    user = next(iter(zitadel_provider.list_users()))
    missing = user.id[:-4] + "0000"
    with pytest.raises(ProviderNotFound) as caught:
        zitadel_provider.activate_user(missing)
    assert caught.value.code == "COMMAND-9hy5kzbuk6"


def test_an_id_cannot_reach_another_endpoint(zitadel_provider):
    with pytest.raises(ProviderNotFound):
        zitadel_provider.get_user("../../management/v1/orgs/me")


# v3alpha option ----------------------------------------------------------------------------


@pytest.fixture
def v3alpha_provider(zitadel_emulator, zitadel_provider):
    provider = ZitadelProvider(
        base_url=zitadel_emulator.url,
        token=DEFAULT_TOKEN,
        project_id=PROJECT_ID,
        use_v3alpha=True,
        timeout=TEST_TIMEOUT,
        retry=FAST_RETRY,
    )
    yield provider
    provider.close()


def test_v3alpha_activate_is_used_only_when_asked_for(v3alpha_provider):
    inactive = user_in(v3alpha_provider, "USER_STATE_INACTIVE")
    assert v3alpha_provider.activate_user(inactive.id).value.status == Status.ACTIVE

    with pytest.raises(ProviderConflict) as caught:
        v3alpha_provider.activate_user(inactive.id)
    # v3alpha answers 404 for a user that is not deactivated; the adapter says what it means.
    assert (caught.value.status_code, caught.value.code) == (404, "COMMAND-rQjbBr4J3j")
    assert "not inactive" in caught.value.message


def test_v3alpha_activate_of_an_unknown_user_stays_not_found(v3alpha_provider):
    user = next(iter(v3alpha_provider.list_users()))
    with pytest.raises(ProviderNotFound):
        v3alpha_provider.activate_user(user.id[:-4] + "0000")


# Organizations: v1 management with x-zitadel-orgid ------------------------------------------


def test_org_reactivate_sends_the_org_in_x_zitadel_orgid(zitadel_provider, api):
    inactive = next(o for o in zitadel_provider.list_organizations() if o.status == Status.INACTIVE)

    result = zitadel_provider.reactivate_organization(inactive.id)

    assert (result.value.id, result.value.status) == (inactive.id, Status.ACTIVE)
    assert result.value.raw_status == "ORGANIZATION_STATE_ACTIVE"
    # Without the header the v1 call acts on the caller's own (active) organization instead.
    answer = api.post("/management/v1/orgs/me/_reactivate", json={})
    assert answer.status_code == HTTPStatus.BAD_REQUEST
    assert answer.json()["details"][0]["id"] == "EVENT-bfnrh"


def test_org_preconditions_are_clear_conflicts(zitadel_provider):
    organization = next(iter(zitadel_provider.list_organizations()))
    with pytest.raises(ProviderConflict) as caught:
        zitadel_provider.reactivate_organization(organization.id)
    assert (caught.value.code, caught.value.message) == (
        "EVENT-bfnrh",
        "Organisation is already active",
    )

    assert zitadel_provider.deactivate_organization(organization.id).value.status == Status.INACTIVE
    with pytest.raises(ProviderConflict) as again:
        zitadel_provider.deactivate_organization(organization.id)
    assert again.value.code == "EVENT-Dbs2g"


def test_unknown_org_reactivate_is_not_found(zitadel_provider):
    organization = next(iter(zitadel_provider.list_organizations()))
    with pytest.raises(ProviderNotFound) as caught:
        zitadel_provider.reactivate_organization(organization.id[:-4] + "0000")
    assert caught.value.code == "ORG-Dgf3g"


def test_v1_and_v2_org_calls_share_one_state(zitadel_provider, api):
    organization = next(iter(zitadel_provider.list_organizations()))

    answer = api.post(f"/v2/organizations/{organization.id}/deactivate", json={})
    assert answer.status_code == HTTPStatus.OK
    assert set(answer.json()) == {"changeDate"}
    me = api.get("/management/v1/orgs/me", headers={"x-zitadel-orgid": organization.id})
    assert me.json()["org"]["state"] == "ORG_STATE_INACTIVE"
    assert zitadel_provider.reactivate_organization(organization.id).value.status == Status.ACTIVE


# Memberships: v2 authorizations over Connect --------------------------------------------------


def test_authorization_activate_is_idempotent_on_the_wire(zitadel_provider, api):
    active = next(m for m in zitadel_provider.list_memberships() if m.status == Status.ACTIVE)
    path = "/zitadel.authorization.v2.AuthorizationService/ActivateAuthorization"
    headers = {"Connect-Protocol-Version": "1"}

    answers = [api.post(path, json={"id": active.id}, headers=headers) for _ in range(2)]

    assert [a.status_code for a in answers] == [HTTPStatus.OK, HTTPStatus.OK]
    assert answers[0].json() == answers[1].json()
    assert zitadel_provider.reactivate_membership(active).changed is False


def test_a_pending_seat_is_an_active_authorization_of_a_user_not_yet_set_up(zitadel_provider):
    memberships = list(zitadel_provider.list_memberships())
    users = {u.id: u.raw_status for u in zitadel_provider.list_users()}
    pending = [m for m in memberships if m.status == Status.PENDING]
    assert pending
    assert {m.raw_status for m in memberships} == {"STATE_ACTIVE", "STATE_INACTIVE"}
    assert {(m.raw_status, users[m.user_id]) for m in pending} == {
        ("STATE_ACTIVE", "USER_STATE_INITIAL")
    }
    assert all(
        users[m.user_id] != "USER_STATE_INITIAL" for m in memberships if m.status == Status.ACTIVE
    )


def test_a_pending_seat_cannot_be_reactivated_but_can_be_deactivated_and_back(zitadel_provider):
    pending = next(m for m in zitadel_provider.list_memberships() if m.status == Status.PENDING)
    with pytest.raises(ProviderConflict) as caught:
        zitadel_provider.reactivate_membership(pending)
    assert (caught.value.code, caught.value.status_code) == ("USER_STATE_INITIAL", 409)
    assert caught.value.request_id

    off = zitadel_provider.deactivate_membership(pending)
    assert (off.value.status, off.value.raw_status) == (Status.INACTIVE, "STATE_INACTIVE")
    back = zitadel_provider.reactivate_membership(off.value)
    assert (back.value.status, back.value.raw_status) == (Status.PENDING, "STATE_ACTIVE")
    assert zitadel_provider.get_membership(pending.id).status == Status.PENDING


def test_setting_a_role_the_org_may_not_hand_out_is_a_connect_precondition_error(
    zitadel_provider,
):
    membership = next(iter(zitadel_provider.list_memberships()))
    with pytest.raises(ProviderConflict) as caught:
        zitadel_provider.set_membership_roles(membership, ("org-nonexistent",))
    assert caught.value.code == "COMMAND-mm9F4"
    assert caught.value.body == {
        "code": "failed_precondition",
        "message": "Role not found (COMMAND-mm9F4)",
    }
    assert zitadel_provider.get_membership(membership.id).roles == membership.roles


# Roles: project roles plus project grants ----------------------------------------------------


def test_org_role_for_a_granted_org_adds_the_key_to_its_project_grant(zitadel_provider, api):
    owner, granted = list(zitadel_provider.list_organizations())[:2]

    result = zitadel_provider.upsert_organization_role(granted.id, "org-audit", "Auditor")
    repeat = zitadel_provider.upsert_organization_role(granted.id, "org-audit", "Auditor")

    assert (result.changed, repeat.changed) == (True, False)
    assert result.value.id == f"{granted.id}:org-audit"
    holders = {r.organization_id for r in zitadel_provider.list_roles() if r.slug == "org-audit"}
    # The project's owner organization may hand out every project role.
    assert holders == {granted.id, owner.id}
    grants = api.post(
        "/zitadel.project.v2.ProjectService/ListProjectGrants",
        json={"filters": [{"grantedOrganizationIdFilter": {"id": granted.id}}]},
    ).json()["projectGrants"]
    assert "org-audit" in grants[0]["grantedRoleKeys"]


def test_environment_roles_are_the_projects_other_roles(zitadel_provider):
    environment = {r.slug for r in zitadel_provider.list_roles() if not r.organization_id}
    assert environment == {"admin", "member"}


def test_roles_need_a_project(zitadel_emulator):
    provider = ZitadelProvider(base_url=zitadel_emulator.url, token=DEFAULT_TOKEN)
    try:
        reasons = provider.unsupported_reasons
        assert set(reasons) == {Capability.LIST_ROLES, Capability.UPSERT_ORGANIZATION_ROLE}
        assert all("ZITADEL_PROJECT_ID" in reason for reason in reasons.values())
        with pytest.raises(ProviderUnsupported):
            list(provider.list_roles())
    finally:
        provider.close()


# Paging, auth and error bodies ---------------------------------------------------------------


def test_users_are_listed_with_offset_pages(zitadel_provider, zitadel_emulator, api):
    before = zitadel_emulator.app.request_count
    users = list(zitadel_provider.list_users())
    assert zitadel_emulator.app.request_count - before == -(-72 // PAGE_SIZE)
    assert len({u.id for u in users}) == 72

    page = api.post("/v2/users", json={"query": {"offset": "70", "limit": 5}}).json()
    assert page["details"]["totalResult"] == "72"
    assert len(page["result"]) == 2
    # Without `asc` ZITADEL sorts newest first.
    assert page["result"][-1]["userId"] == users[0].id


def test_a_page_is_the_same_whether_walked_to_or_jumped_to(api):
    def users(offset: int, limit: int) -> list[str]:
        query = {"offset": str(offset), "limit": limit, "asc": True}
        return [u["userId"] for u in api.post("/v2/users", json={"query": query}).json()["result"]]

    every = users(0, 100)
    jumped = users(30, 10)
    users(0, 30)  # the emulator now knows where offset 30 starts
    walked = users(30, 10)
    assert jumped == walked == every[30:40]


def test_limit_above_the_maximum_is_rejected(api):
    answer = api.post("/v2/users", json={"query": {"limit": 1001}})
    assert answer.status_code == HTTPStatus.BAD_REQUEST
    assert answer.json()["code"] == 3


def test_rest_and_connect_paths_return_the_same_user(zitadel_provider, api):
    user = next(iter(zitadel_provider.list_users()))
    rest = api.get(f"/v2/users/{user.id}").json()
    connect = api.post("/zitadel.user.v2.UserService/GetUserByID", json={"userId": user.id}).json()
    assert rest == connect
    assert rest["user"]["details"]["sequence"] == "1"


def test_wrong_token_is_an_auth_error(zitadel_emulator):
    provider = ZitadelProvider(base_url=zitadel_emulator.url, token="not-the-pat")
    try:
        with pytest.raises(ProviderAuthError) as caught:
            next(iter(provider.list_organizations()))
    finally:
        provider.close()
    assert (caught.value.status_code, caught.value.code) == (401, "AUTH-7fs1e")


def test_rate_limit_body_is_resource_exhausted(zitadel_provider, zitadel_emulator):
    organization = next(iter(zitadel_provider.list_organizations()))
    zitadel_emulator.app.faults.configure({"fail": [429] * (FAST_RETRY.max_retries + 1)})
    with pytest.raises(ProviderRateLimited) as caught:
        zitadel_provider.get_organization(organization.id)
    assert caught.value.body["code"] == 8


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, 3, ProviderRejected),
        (404, 5, ProviderNotFound),
        (409, 6, ProviderConflict),
        (403, 7, ProviderAuthError),
        (429, 8, ProviderRateLimited),
        (400, 9, ProviderConflict),
        (503, 14, ProviderUnavailable),
        (401, 16, ProviderAuthError),
        (400, "invalid_argument", ProviderRejected),
        (400, "failed_precondition", ProviderConflict),
        (409, "already_exists", ProviderConflict),
        (429, "resource_exhausted", ProviderRateLimited),
        (503, "unavailable", ProviderUnavailable),
        (401, "unauthenticated", ProviderAuthError),
    ],
)
def test_grpc_and_connect_codes_map_to_provider_errors(status, code, expected):
    body = {"code": code, "message": "Something happened (TEST-a1b2)"}
    error = parse_error(httpx.Response(status, json=body), body)
    assert type(error) is expected
    assert (error.status_code, error.code, error.message) == (
        status,
        "TEST-a1b2",
        "Something happened",
    )


def test_error_without_a_body_falls_back_to_the_http_status():
    error = parse_error(httpx.Response(502, text="bad gateway"), "bad gateway")
    assert isinstance(error, ProviderUnavailable)
    assert error.code == "502"


# Configuration -------------------------------------------------------------------------------


@pytest.mark.parametrize(("domain", "token"), [("", "pat"), ("acme.zitadel.cloud", "")])
def test_missing_domain_or_token_is_not_configured(settings, domain, token):
    settings.KARMO_PROVIDER = "zitadel"
    settings.ZITADEL_DOMAIN, settings.ZITADEL_TOKEN = domain, token
    with pytest.raises(ProviderNotConfigured, match="ZITADEL_"):
        get_provider()


@pytest.mark.parametrize(
    ("domain", "base_url"),
    [
        ("acme-xyz.zitadel.cloud", "https://acme-xyz.zitadel.cloud"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
    ],
)
def test_domain_becomes_the_base_url(settings, domain, base_url):
    settings.KARMO_PROVIDER = "zitadel"
    settings.ZITADEL_DOMAIN, settings.ZITADEL_TOKEN = domain, "pat"
    settings.ZITADEL_PROJECT_ID, settings.ZITADEL_USE_V3ALPHA = PROJECT_ID, True
    provider = get_provider()
    try:
        assert str(provider.http.client.base_url).rstrip("/") == base_url
        assert provider.use_v3alpha
        assert provider.http.client.headers["authorization"] == "Bearer pat"
    finally:
        provider.close()

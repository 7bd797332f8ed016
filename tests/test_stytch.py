"""Stytch-specific behaviour of the adapter and its emulator, beyond the shared contract."""

from __future__ import annotations

from http import HTTPStatus

import httpx
import pytest

from accounts.errors import ErrorCode, from_provider_error
from providers.base import Capability, Status
from providers.emulators.stytch import PROJECT_ID, SECRET
from providers.errors import (
    ProviderAuthError,
    ProviderConflict,
    ProviderNotConfigured,
    ProviderNotFound,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)
from providers.registry import get_provider, provider_status
from providers.sandbox import build_sandbox_provider
from providers.stytch import StytchProvider, parse_error
from tests.fixtures.flavors import FAST_RETRY

pytestmark = pytest.mark.django_db
ALL = ["active", "invited", "pending", "deleted"]


@pytest.fixture
def api(stytch_emulator, stytch_provider):
    """A plain HTTP client speaking to the emulator, for wire-level checks."""
    with httpx.Client(base_url=stytch_emulator.url, auth=(PROJECT_ID, SECRET)) as client:
        yield client


def members(api, org_ids, **body):
    return api.post(
        "/v1/b2b/organizations/members/search", json={"organization_ids": org_ids, **body}
    )


def statuses(*values):
    return {
        "operator": "AND",
        "operands": [{"filter_name": "statuses", "filter_value": list(values)}],
    }


def by_raw_status(provider, raw_status):
    return next(m for m in provider.list_memberships() if m.raw_status == raw_status)


# Reactivation preconditions -------------------------------------------------------------


def test_reactivating_a_member_with_an_unverified_email_is_a_clear_precondition_error(
    stytch_provider,
):
    unverified = next(
        m
        for m in stytch_provider.list_memberships()
        if m.status == Status.INACTIVE and not stytch_provider.get_user(m.user_id).email_verified
    )

    with pytest.raises(ProviderConflict) as caught:
        stytch_provider.reactivate_membership(unverified)

    error = caught.value
    assert error.code == "email_unverified_for_reactivation"
    assert error.status_code == HTTPStatus.BAD_REQUEST
    assert "verified email" in error.message
    assert error.request_id.startswith("request-id-test-")
    karmo = from_provider_error(error, "stytch")
    assert karmo.meta["providerRequestId"] == error.request_id
    assert karmo.meta["providerCode"] == "email_unverified_for_reactivation"
    assert stytch_provider.get_membership(unverified.id).status == Status.INACTIVE


@pytest.mark.parametrize("raw_status", ["active", "invited", "pending"])
def test_reactivating_a_member_who_is_not_deleted_is_refused(stytch_provider, raw_status):
    member = by_raw_status(stytch_provider, raw_status)

    with pytest.raises(ProviderConflict) as caught:
        stytch_provider.reactivate_membership(member)

    assert caught.value.code == "no_deleted_member_found_for_reactivation"
    assert caught.value.status_code == HTTPStatus.BAD_REQUEST
    assert caught.value.request_id
    assert stytch_provider.get_membership(member.id).raw_status == raw_status


def test_reactivate_is_not_repeated_once_it_may_have_been_sent(stytch_provider, stytch_emulator):
    deleted = by_raw_status(stytch_provider, "deleted")
    stytch_emulator.app.faults.configure({"fail": [503]})
    before = stytch_emulator.app.request_count

    with pytest.raises(ProviderUnavailable):
        stytch_provider.reactivate_membership(deleted)

    assert stytch_emulator.app.request_count - before == 1


def test_reactivated_member_keeps_its_roles_and_answers_with_its_request_id(stytch_provider):
    deleted = by_raw_status(stytch_provider, "deleted")
    result = stytch_provider.reactivate_membership(deleted)
    assert (result.value.raw_status, result.value.roles) == ("active", deleted.roles)
    assert result.request_id.startswith("request-id-test-")


# Deactivation and roles ------------------------------------------------------------------


def test_deleting_a_member_deactivates_it_and_a_second_delete_changes_nothing(stytch_provider):
    active = by_raw_status(stytch_provider, "active")

    first = stytch_provider.deactivate_membership(active)
    second = stytch_provider.deactivate_membership(active)

    assert (first.changed, first.value.status, first.value.raw_status) == (
        True,
        Status.INACTIVE,
        "deleted",
    )
    assert (second.changed, second.value.status) == (False, Status.INACTIVE)
    assert stytch_provider.get_user(active.user_id).status == Status.INACTIVE


def test_setting_roles_replaces_direct_roles_and_keeps_implicit_ones(
    stytch_provider, stytch_emulator
):
    active = by_raw_status(stytch_provider, "active")
    store = stytch_emulator.app.store
    doc = store.get("member", active.id)
    doc["roles"].append(
        {"role_id": "org-viewer", "sources": [{"type": "email_assignment", "details": {}}]}
    )
    store.put("member", active.id, doc)

    result = stytch_provider.set_membership_roles(active, ("org-billing",))

    assert set(result.value.roles) == {"org-billing", "org-viewer"}
    assert "stytch_member" not in result.value.roles
    assert result.changed


@pytest.mark.parametrize(
    ("roles", "code"),
    [
        (("org-unknown",), "invalid_rbac_role_id"),
        (("stytch_member",), "cannot_assign_default_rbac_role_id"),
    ],
)
def test_assigning_a_role_stytch_refuses_is_rejected(stytch_provider, roles, code):
    active = by_raw_status(stytch_provider, "active")
    with pytest.raises(ProviderRejected) as caught:
        stytch_provider.set_membership_roles(active, roles)
    assert (caught.value.code, caught.value.status_code) == (code, HTTPStatus.BAD_REQUEST)


def test_role_upsert_rewrites_the_whole_org_policy_without_losing_other_roles(stytch_provider):
    organization = next(iter(stytch_provider.list_organizations()))
    before = {r.slug for r in stytch_provider.list_roles() if r.organization_id == organization.id}

    created = stytch_provider.upsert_organization_role(organization.id, "org-audit", "Audit")
    again = stytch_provider.upsert_organization_role(organization.id, "org-audit", "Audit")

    after = {r.slug for r in stytch_provider.list_roles() if r.organization_id == organization.id}
    assert after == before | {"org-audit"}
    assert created.value.id == f"{organization.id}:org-audit"
    assert (created.changed, again.changed) == (True, False)


def test_project_roles_are_environment_wide(stytch_provider):
    project = {r.slug: r for r in stytch_provider.list_roles() if not r.organization_id}
    assert {"stytch_admin", "stytch_member", "admin", "member"} <= set(project)
    assert project["admin"].id == "admin"


def test_create_member_adds_a_person_to_one_organization(stytch_provider):
    organization = next(iter(stytch_provider.list_organizations()))

    created = stytch_provider.create_member(
        organization.id, "New.Person@acme-logistics.example", "New Person", ("org-viewer",)
    )

    member = stytch_provider.get_user(created.value.user_id)
    assert (member.email, member.first_name, member.last_name) == (
        "new.person@acme-logistics.example",
        "New",
        "Person",
    )
    assert created.value.roles == ("org-viewer",)
    with pytest.raises(ProviderConflict) as caught:
        stytch_provider.create_member(organization.id, "new.person@acme-logistics.example")
    assert caught.value.code == "duplicate_member_email"


def test_create_user_is_unsupported_because_members_live_in_organizations(stytch_provider):
    assert Capability.CREATE_USER not in stytch_provider.capabilities
    assert "organization" in stytch_provider.unsupported_reasons[Capability.CREATE_USER]


# Wire format -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "auth", [None, (PROJECT_ID, "wrong-secret"), ("project-test-other", SECRET)]
)
def test_basic_auth_is_required(stytch_emulator, stytch_provider, auth):
    answer = httpx.post(f"{stytch_emulator.url}/v1/b2b/organizations/search", json={}, auth=auth)
    body = answer.json()
    assert answer.status_code == HTTPStatus.UNAUTHORIZED
    assert body["error_type"] == "unauthorized_credentials"
    assert set(body) == {"status_code", "request_id", "error_type", "error_message", "error_url"}
    assert body["status_code"] == HTTPStatus.UNAUTHORIZED


def test_adapter_with_a_wrong_secret_gets_an_auth_error(stytch_emulator, stytch_provider):
    provider = StytchProvider(
        project_id=PROJECT_ID, secret="nope", base_url=stytch_emulator.url, retry=FAST_RETRY
    )
    with pytest.raises(ProviderAuthError) as caught:
        list(provider.list_organizations())
    provider.close()
    assert caught.value.code == "unauthorized_credentials"
    assert caught.value.request_id


def test_members_search_pages_with_cursors_and_hides_deleted_members(api):
    org_ids = [
        o["organization_id"]
        for o in api.post("/v1/b2b/organizations/search").json()["organizations"]
    ]
    seen, cursor, pages = [], None, 0
    while True:
        body = members(api, org_ids, limit=10, cursor=cursor, query=statuses(*ALL)).json()
        assert (body["status_code"], bool(body["request_id"])) == (200, True)
        seen += body["members"]
        pages += 1
        cursor = body["results_metadata"]["next_cursor"]
        if cursor is None:
            break
    live = members(api, org_ids, limit=1000).json()

    assert pages == -(-body["results_metadata"]["total"] // 10)
    assert len({m["member_id"] for m in seen}) == len(seen) == body["results_metadata"]["total"]
    assert {m["status"] for m in seen} == set(ALL)
    assert "deleted" not in {m["status"] for m in live["members"]}
    assert live["results_metadata"]["total"] == sum(m["status"] != "deleted" for m in seen)
    assert set(live["organizations"]) <= set(org_ids)


@pytest.mark.parametrize(
    ("body", "error_type"),
    [
        ({}, "member_search_organization_ids_empty"),
        ({"organization_ids": ["x"], "query": statuses("gone")}, "search_invalid_status_filter"),
        (
            {
                "organization_ids": ["x"],
                "query": {
                    "operator": "AND",
                    "operands": [{"filter_name": "shoe_size", "filter_value": ["9"]}],
                },
            },
            "member_search_filter_name_not_recognized",
        ),
        ({"organization_ids": ["x"], "cursor": "not-a-cursor"}, "bad_request"),
        ({"organization_ids": ["x"], "limit": 5000}, "bad_request"),
    ],
)
def test_bad_member_searches_are_answered_with_stytch_errors(api, body, error_type):
    answer = api.post("/v1/b2b/organizations/members/search", json=body)
    assert answer.status_code == HTTPStatus.BAD_REQUEST
    assert answer.json()["error_type"] == error_type


def test_smaller_pages_list_the_same_memberships(stytch_emulator, stytch_provider):
    small = StytchProvider(
        project_id=PROJECT_ID, secret=SECRET, base_url=stytch_emulator.url, page_size=7
    )
    before = stytch_emulator.app.request_count
    paged = list(small.list_memberships())
    small.close()
    assert stytch_emulator.app.request_count - before > len(paged) // 7
    assert paged == list(stytch_provider.list_memberships())


def search_all(api, path, key, body, limit=7):
    """Every result of a search, page by page, and the totals the pages announced."""
    found, totals, cursor = [], set(), None
    while True:
        page = {**body, "limit": limit, **({"cursor": cursor} if cursor else {})}
        answer = api.post(path, json=page).json()
        found += answer[key]
        totals.add(answer["results_metadata"]["total"])
        cursor = answer["results_metadata"]["next_cursor"]
        if cursor is None:
            return found, totals


def operand(name, value):
    return {"filter_name": name, "filter_value": value}


def role_ids(member):
    return {r["role_id"] for r in member["roles"]}


MEMBER_QUERIES = {
    "emails fold case": (
        lambda m: ("AND", [operand("member_emails", [m["email_address"].upper()])]),
        lambda m, x: x["email_address"] == m["email_address"] and x["status"] != "deleted",
    ),
    "fuzzy email": (
        lambda m: ("AND", [operand("member_email_fuzzy", m["email_address"][2:7].upper())]),
        lambda m, x: m["email_address"][2:7] in x["email_address"] and x["status"] != "deleted",
    ),
    "member ids": (
        lambda m: (
            "AND",
            [operand("member_ids", [m["member_id"].upper()]), operand("statuses", ALL)],
        ),
        lambda m, x: x["member_id"] == m["member_id"],
    ),
    "roles and statuses": (
        lambda m: (
            "AND",
            [operand("member_roles", ["org-admin"]), operand("statuses", ["active", "deleted"])],
        ),
        lambda m, x: "org-admin" in role_ids(x) and x["status"] in {"active", "deleted"},
    ),
    "roles or a status": (
        lambda m: (
            "OR",
            [operand("member_roles", ["org-billing"]), operand("statuses", ["pending"])],
        ),
        lambda m, x: "org-billing" in role_ids(x) or x["status"] == "pending",
    ),
    "every status or anything": (
        lambda m: ("OR", [operand("statuses", ALL), operand("member_roles", ["none"])]),
        lambda m, x: True,
    ),
}


@pytest.mark.parametrize("case", list(MEMBER_QUERIES))
def test_member_search_filters_page_to_exactly_the_matching_members(api, case):
    org_ids = [
        o["organization_id"]
        for o in api.post("/v1/b2b/organizations/search").json()["organizations"]
    ]
    everyone = members(api, org_ids, limit=1000, query=statuses(*ALL)).json()["members"]
    sample = next(m for m in everyone if m["status"] == "active" and len(role_ids(m)) > 1)
    build, wanted = MEMBER_QUERIES[case]
    operator, operands = build(sample)
    query = {"operator": operator, "operands": operands}

    found, totals = search_all(
        api,
        "/v1/b2b/organizations/members/search",
        "members",
        {"organization_ids": org_ids, "query": query},
        limit=4,
    )

    expected = [m["member_id"] for m in everyone if wanted(sample, m)]
    assert expected
    assert [m["member_id"] for m in found] == expected
    assert totals == {len(expected)}


def test_member_search_covers_only_the_organizations_asked_for(api):
    orgs = api.post("/v1/b2b/organizations/search").json()["organizations"]
    two = [orgs[1]["organization_id"], orgs[3]["organization_id"]]

    found, totals = search_all(
        api,
        "/v1/b2b/organizations/members/search",
        "members",
        {"organization_ids": [*two, two[0], "organization-unknown"], "query": statuses(*ALL)},
    )

    everyone = members(api, [o["organization_id"] for o in orgs], limit=1000, query=statuses(*ALL))
    expected = [m for m in everyone.json()["members"] if m["organization_id"] in two]
    assert found == expected
    assert totals == {len(expected)}


def test_members_added_while_paging_appear_once_on_a_later_page(api):
    org_id = api.post("/v1/b2b/organizations/search").json()["organizations"][0]["organization_id"]
    body = {"organization_ids": [org_id], "limit": 3}
    first = api.post("/v1/b2b/organizations/members/search", json=body).json()
    created = api.post(
        f"/v1/b2b/organizations/{org_id}/members", json={"email_address": "late@example.com"}
    ).json()["member"]

    rest, totals = search_all(
        api,
        "/v1/b2b/organizations/members/search",
        "members",
        {**body, "cursor": first["results_metadata"]["next_cursor"]},
        limit=3,
    )

    ids = [m["member_id"] for m in first["members"] + rest]
    assert ids[-1] == created["member_id"]
    assert len(ids) == len(set(ids)) == first["results_metadata"]["total"] + 1
    assert totals == {len(ids)}


ORGANIZATION_QUERIES = {
    "slugs fold case": (
        lambda o: [operand("organization_slugs", [o["organization_slug"].upper()])],
        lambda o, x: x["organization_slug"] == o["organization_slug"],
    ),
    "fuzzy name": (
        lambda o: [operand("organization_name_fuzzy", o["organization_name"][1:5].upper())],
        lambda o, x: o["organization_name"][1:5].lower() in x["organization_name"].lower(),
    ),
    "fuzzy allowed domain": (
        lambda o: [operand("allowed_domain_fuzzy", ".EXAM")],
        lambda o, x: any(".exam" in d.lower() for d in x["email_allowed_domains"]),
    ),
    "allowed domains": (
        lambda o: [operand("allowed_domains", o["email_allowed_domains"])],
        lambda o, x: bool(set(o["email_allowed_domains"]) & set(x["email_allowed_domains"])),
    ),
}


@pytest.mark.parametrize("case", list(ORGANIZATION_QUERIES))
def test_organization_search_filters_page_to_exactly_the_matching_organizations(api, case):
    everyone = api.post("/v1/b2b/organizations/search", json={"limit": 1000}).json()
    sample = everyone["organizations"][2]
    build, wanted = ORGANIZATION_QUERIES[case]

    found, totals = search_all(
        api,
        "/v1/b2b/organizations/search",
        "organizations",
        {"query": {"operator": "AND", "operands": build(sample)}},
        limit=2,
    )

    expected = [o for o in everyone["organizations"] if wanted(sample, o)]
    assert expected
    assert found == expected
    assert totals == {len(expected)}


def test_organization_search_pages_through_every_organization(api):
    everyone = api.post("/v1/b2b/organizations/search", json={"limit": 1000}).json()

    found, totals = search_all(api, "/v1/b2b/organizations/search", "organizations", {}, limit=4)

    assert found == everyone["organizations"]
    assert totals == {everyone["results_metadata"]["total"]} == {len(found)}


# Error mapping ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type", "error_class"),
    [
        (400, "email_unverified_for_reactivation", ProviderConflict),
        (400, "no_deleted_member_found_for_reactivation", ProviderConflict),
        (400, "invalid_rbac_role_id", ProviderRejected),
        (401, "unauthorized_credentials", ProviderAuthError),
        (403, "unauthorized_action", ProviderAuthError),
        (404, "member_not_found", ProviderNotFound),
        (400, "organization_not_found", ProviderNotFound),
        (409, "duplicate_member_email", ProviderConflict),
        (429, "too_many_requests", ProviderRateLimited),
        (500, "internal_server_error", ProviderUnavailable),
    ],
)
def test_stytch_errors_map_to_provider_errors(status, error_type, error_class):
    body = {
        "status_code": status,
        "request_id": "request-id-test-1234",
        "error_type": error_type,
        "error_message": "Stytch says no.",
        "error_url": f"https://stytch.com/docs/api/errors/{status}",
    }
    error = parse_error(httpx.Response(status, json=body), body)
    assert type(error) is error_class
    assert (error.code, error.request_id, error.status_code) == (
        error_type,
        "request-id-test-1234",
        status,
    )


def test_a_bare_429_waits_one_rate_limit_window_capped(stytch_provider, stytch_emulator):
    organization = next(iter(stytch_provider.list_organizations()))
    stytch_emulator.app.faults.configure({"fail": [429] * 3})
    with pytest.raises(ProviderRateLimited) as caught:
        stytch_provider.get_organization(organization.id)
    assert caught.value.code == "too_many_requests"
    assert caught.value.retry_after == FAST_RETRY.retry_after_cap


def test_unknown_organization_is_not_found(stytch_provider):
    with pytest.raises(ProviderNotFound) as caught:
        stytch_provider.upsert_organization_role("organization-test-missing", "org-x", "X")
    assert caught.value.code == "organization_not_found"


# Configuration ---------------------------------------------------------------------------


@pytest.fixture
def stytch_settings(settings):
    settings.KARMO_PROVIDER = "stytch"
    settings.STYTCH_PROJECT_ID = "project-test-11111111-2222-3333-4444-555555555555"
    settings.STYTCH_SECRET = "secret-test-abc"
    settings.STYTCH_ENVIRONMENT = "test"
    settings.STYTCH_BASE_URL = ""
    return settings


@pytest.mark.parametrize(
    ("environment", "project_id", "base_url", "expected"),
    [
        ("test", "project-test-1", "", "https://test.stytch.com"),
        ("live", "project-live-1", "", "https://api.stytch.com"),
        ("live", "project-live-1", "https://auth.example.com", "https://auth.example.com"),
    ],
)
def test_environment_selects_the_base_url(
    stytch_settings, environment, project_id, base_url, expected
):
    stytch_settings.STYTCH_ENVIRONMENT = environment
    stytch_settings.STYTCH_PROJECT_ID = project_id
    stytch_settings.STYTCH_BASE_URL = base_url
    provider = get_provider()
    provider.close()
    assert str(provider.http.client.base_url).rstrip("/") == expected
    assert provider_status().configured


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("STYTCH_PROJECT_ID", "", "STYTCH_PROJECT_ID"),
        ("STYTCH_SECRET", "", "STYTCH_SECRET"),
        ("STYTCH_ENVIRONMENT", "staging", "'test' or 'live'"),
        ("STYTCH_PROJECT_ID", "project-live-1", "live project"),
    ],
)
def test_missing_or_inconsistent_credentials_are_not_configured(
    stytch_settings, field, value, reason
):
    setattr(stytch_settings, field, value)
    with pytest.raises(ProviderNotConfigured, match=reason):
        get_provider()
    status = provider_status()
    assert (status.configured, status.name) == (False, "stytch")
    assert from_provider_error(ProviderNotConfigured(reason), "stytch").code == (
        ErrorCode.PROVIDER_NOT_CONFIGURED
    )


def test_sandbox_can_run_the_stytch_flavour_and_keeps_its_state(settings, tmp_path):
    settings.KARMO_SANDBOX_FLAVOR = "stytch"
    settings.KARMO_SANDBOX_DIR = tmp_path
    settings.KARMO_SANDBOX_URL = ""
    first = build_sandbox_provider()
    deleted = by_raw_status(first, "deleted")
    first.reactivate_membership(deleted)
    first.close()

    again = build_sandbox_provider()
    try:
        assert again.name == "stytch"
        assert again.get_membership(deleted.id).status == Status.ACTIVE
        assert len(list(again.list_organizations())) == 6
    finally:
        again.close()

"""ZITADEL's official Python SDK against the emulator, every v2 operation Karmo uses.

The SDK speaks Connect (`POST /zitadel.<service>/<method>`). Each test calls it as a user
would, then checks the raw answer strictly against the model the SDK parsed it into (no
undeclared keys, no coerced types) and what it says. Karmo's v1 management and v3alpha calls
have no counterpart in this SDK.
"""

from __future__ import annotations

import pytest
from zitadel_client import models
from zitadel_client.exceptions import ApiError

from providers.emulators.zitadel import PROJECT_ID
from tests.sdk.strict import strictly

CONTAINS = "TEXT_QUERY_METHOD_CONTAINS_IGNORE_CASE"


@pytest.fixture
def answered(zitadel_sdk_emulator):
    """Check the last answer strictly as the model the SDK parsed it into."""
    return lambda parsed: strictly(type(parsed), zitadel_sdk_emulator.app.last_body)


def users(sdk, *queries, limit=1000):
    request = {"query": {"limit": limit, "asc": True}, "queries": list(queries)}
    return sdk.users.list_users(models.UserServiceListUsersRequest.from_dict(request))


def authorizations(sdk, *filters):
    request = {"pagination": {"limit": 1000, "asc": True}, "filters": list(filters)}
    return sdk.authorizations.list_authorizations(
        models.AuthorizationServiceListAuthorizationsRequest.from_dict(request)
    )


def test_list_organizations_and_toggle_one(zitadel_sdk, answered):
    orgs = zitadel_sdk.organizations
    listed = orgs.list_organizations(
        models.OrganizationServiceListOrganizationsRequest.from_dict({"query": {"limit": 100}})
    )
    answered(listed)
    assert int(listed.details.total_result) == len(listed.result) > 1
    org = next(o for o in listed.result if o.state.value == "ORGANIZATION_STATE_ACTIVE")
    request = {"organizationId": org.id}
    off = orgs.deactivate_organization(
        models.OrganizationServiceDeactivateOrganizationRequest.from_dict(request)
    )
    answered(off)
    on = orgs.activate_organization(
        models.OrganizationServiceActivateOrganizationRequest.from_dict(request)
    )
    answered(on)
    assert on.change_date >= off.change_date


def test_list_users_with_every_query_the_adapter_and_console_use(zitadel_sdk, answered):
    everyone = users(zitadel_sdk, {"typeQuery": {"type": "TYPE_HUMAN"}})
    answered(everyone)
    someone = everyone.result[0]
    profile = someone.human.profile
    for query, expected in [
        ({"firstNameQuery": {"firstName": profile.given_name[:3], "method": CONTAINS}}, "given"),
        ({"lastNameQuery": {"lastName": profile.family_name, "method": CONTAINS}}, "family"),
        ({"displayNameQuery": {"displayName": profile.display_name, "method": CONTAINS}}, "name"),
        ({"emailQuery": {"emailAddress": someone.human.email.email}}, "email"),
        ({"inUserIdsQuery": {"userIds": [someone.user_id]}}, "id"),
        ({"stateQuery": {"state": someone.state.value}}, "state"),
        ({"organizationIdQuery": {"organizationId": someone.details.resource_owner}}, "org"),
    ]:
        found = users(zitadel_sdk, query)
        answered(found)
        assert someone.user_id in {u.user_id for u in found.result}, expected
        assert len(found.result) < len(everyone.result) or expected == "state"
    either = users(
        zitadel_sdk,
        {
            "orQuery": {
                "queries": [
                    {"inUserIdsQuery": {"userIds": [someone.user_id]}},
                    {"inUserIdsQuery": {"userIds": [everyone.result[1].user_id]}},
                ]
            }
        },
    )
    assert len(either.result) == 2


def test_id_lists_answer_in_creation_order_and_with_the_other_queries(zitadel_sdk, answered):
    everyone = users(zitadel_sdk, {"typeQuery": {"type": "TYPE_HUMAN"}})
    ids = [u.user_id for u in everyone.result[:5]]
    found = users(zitadel_sdk, {"inUserIdsQuery": {"userIds": [*reversed(ids), "unknown"]}})
    answered(found)
    assert [u.user_id for u in found.result] == ids
    owner = everyone.result[2].details.resource_owner
    both = users(
        zitadel_sdk,
        {"inUserIdsQuery": {"userIds": ids}},
        {"organizationIdQuery": {"organizationId": owner}},
    )
    assert [u.user_id for u in both.result] == [
        u.user_id for u in everyone.result[:5] if u.details.resource_owner == owner
    ]
    seats = authorizations(zitadel_sdk)
    picked = [seat.id for seat in seats.authorizations[:4]]
    again = authorizations(zitadel_sdk, {"authorizationIds": {"ids": picked[::-1]}})
    answered(again)
    assert [seat.id for seat in again.authorizations] == picked


def test_users_created_through_v2_are_active_and_can_be_deactivated(zitadel_sdk, answered):
    created = zitadel_sdk.users.create_user(
        models.UserServiceCreateUserRequest.from_dict(
            {
                "username": "grace.hopper",
                "human": {
                    "profile": {"givenName": "Grace", "familyName": "Hopper"},
                    "email": {"email": "grace.hopper@example.com", "isVerified": True},
                },
            }
        )
    )
    answered(created)
    added = zitadel_sdk.users.add_human_user(
        models.UserServiceAddHumanUserRequest.from_dict(
            {
                "profile": {"givenName": "Alan", "familyName": "Turing"},
                "email": {"email": "alan.turing@example.com"},
            }
        )
    )
    answered(added)
    for user_id in (created.id, added.user_id):
        got = zitadel_sdk.users.get_user_by_id(
            models.UserServiceGetUserByIDRequest.from_dict({"userId": user_id})
        )
        answered(got)
        assert got.user.state.value == "USER_STATE_ACTIVE"
        off = zitadel_sdk.users.deactivate_user(
            models.UserServiceDeactivateUserRequest.from_dict({"userId": user_id})
        )
        answered(off)
        on = zitadel_sdk.users.reactivate_user(
            models.UserServiceReactivateUserRequest.from_dict({"userId": user_id})
        )
        answered(on)
    assert got.user.username == "alan.turing@example.com"


def test_authorizations_are_only_active_or_inactive(zitadel_sdk, answered):
    listed = authorizations(zitadel_sdk, {"projectId": {"id": PROJECT_ID}})
    answered(listed)
    assert {a.state.value for a in listed.authorizations} == {"STATE_ACTIVE", "STATE_INACTIVE"}
    initial = users(zitadel_sdk, {"stateQuery": {"state": "USER_STATE_INITIAL"}}).result
    invited = {u.user_id for u in initial}
    assert invited
    seats = [a for a in listed.authorizations if a.user.id in invited]
    assert "STATE_ACTIVE" in {a.state.value for a in seats}


def test_authorizations_toggle_and_take_new_roles(zitadel_sdk, answered):
    seat = next(
        a
        for a in authorizations(zitadel_sdk, {"state": {"state": "STATE_ACTIVE"}}).authorizations
        if a.roles
    )
    service = zitadel_sdk.authorizations
    request = {"id": seat.id}
    off = service.deactivate_authorization(
        models.AuthorizationServiceDeactivateAuthorizationRequest.from_dict(request)
    )
    answered(off)
    on = service.activate_authorization(
        models.AuthorizationServiceActivateAuthorizationRequest.from_dict(request)
    )
    answered(on)
    keys = [seat.roles[0].key]
    updated = service.update_authorization(
        models.AuthorizationServiceUpdateAuthorizationRequest.from_dict(
            {**request, "roleKeys": keys}
        )
    )
    answered(updated)
    again = authorizations(zitadel_sdk, {"authorizationIds": {"ids": [seat.id]}})
    assert [r.key for r in again.authorizations[0].roles] == keys


def test_project_roles_and_grants(zitadel_sdk, answered):
    projects = zitadel_sdk.projects
    project = projects.get_project(
        models.ProjectServiceGetProjectRequest.from_dict({"projectId": PROJECT_ID})
    )
    answered(project)
    roles = projects.list_project_roles(
        models.ProjectServiceListProjectRolesRequest.from_dict({"projectId": PROJECT_ID})
    )
    answered(roles)
    added = projects.add_project_role(
        models.ProjectServiceAddProjectRoleRequest.from_dict(
            {"projectId": PROJECT_ID, "roleKey": "org-auditor", "displayName": "Auditor"}
        )
    )
    answered(added)
    renamed = projects.update_project_role(
        models.ProjectServiceUpdateProjectRoleRequest.from_dict(
            {"projectId": PROJECT_ID, "roleKey": "org-auditor", "displayName": "Auditors"}
        )
    )
    answered(renamed)
    grants = projects.list_project_grants(
        models.ProjectServiceListProjectGrantsRequest.from_dict(
            {"filters": [{"inProjectIdsFilter": {"ids": [PROJECT_ID]}}]}
        )
    )
    answered(grants)
    grant = grants.project_grants[0]
    keys = [*grant.granted_role_keys, "org-auditor"]
    updated = projects.update_project_grant(
        models.ProjectServiceUpdateProjectGrantRequest.from_dict(
            {
                "projectId": PROJECT_ID,
                "grantedOrganizationId": grant.granted_organization_id,
                "roleKeys": keys,
            }
        )
    )
    answered(updated)
    owner = project.project.organization_id
    granted = {g.granted_organization_id for g in grants.project_grants} | {owner}
    orgs = zitadel_sdk.organizations.list_organizations(
        models.OrganizationServiceListOrganizationsRequest.from_dict({})
    ).result
    if ungranted := [o.id for o in orgs if o.id not in granted]:
        created = projects.create_project_grant(
            models.ProjectServiceCreateProjectGrantRequest.from_dict(
                {"projectId": PROJECT_ID, "grantedOrganizationId": ungranted[0], "roleKeys": keys}
            )
        )
        answered(created)


def test_errors_carry_the_connect_code_and_message(zitadel_sdk, zitadel_sdk_emulator):
    with pytest.raises(ApiError) as missing:
        zitadel_sdk.users.get_user_by_id(
            models.UserServiceGetUserByIDRequest.from_dict({"userId": "1"})
        )
    assert missing.value.code == 404
    assert zitadel_sdk_emulator.app.last_body["code"] == "not_found"
    with pytest.raises(ApiError) as refused:
        zitadel_sdk.users.reactivate_user(
            models.UserServiceReactivateUserRequest.from_dict(
                {"userId": users(zitadel_sdk).result[0].user_id}
            )
        )
    assert refused.value.code == 400
    assert zitadel_sdk_emulator.app.last_body["code"] == "failed_precondition"


def test_authorizations_filter_on_their_user_project_and_roles(zitadel_sdk, answered):
    seat = next(a for a in authorizations(zitadel_sdk).authorizations if a.roles)
    like = "TEXT_FILTER_METHOD_CONTAINS_IGNORE_CASE"
    for query in [
        {"userDisplayName": {"displayName": seat.user.display_name.upper(), "method": like}},
        {"userPreferredLoginName": {"loginName": seat.user.preferred_login_name}},
        {"userOrganizationId": {"id": seat.user.organization_id}},
        {"projectName": {"name": "karm", "method": like}},
        {"roleKey": {"key": seat.roles[0].key}},
        {"inUserIds": {"ids": [seat.user.id]}},
        {"organizationId": {"id": seat.organization.id}},
    ]:
        found = authorizations(zitadel_sdk, query)
        answered(found)
        assert seat.id in {a.id for a in found.authorizations}, query
    narrowed = authorizations(
        zitadel_sdk,
        {"userPreferredLoginName": {"loginName": seat.user.preferred_login_name}},
        {"organizationId": {"id": seat.organization.id}},
    )
    assert [a.id for a in narrowed.authorizations] == [seat.id]

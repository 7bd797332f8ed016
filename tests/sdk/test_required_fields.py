"""The SDK suites would catch a required field dropped from an emulator's answers.

Real answers are fetched through each SDK, then every key the SDK's model requires is
removed in turn: the SDK's own parser must refuse each of those bodies. (ZITADEL's models,
generated from protobuf, require nothing; its suite checks values and types instead.)
"""

from __future__ import annotations

import dataclasses

import pydantic
import pytest
import workos
from stytch.b2b.models import organizations as org_models
from stytch.b2b.models import organizations_members as member_models


def without_each(body: dict, keys: list[str]):
    for key in keys:
        yield key, {k: v for k, v in body.items() if k != key}


def test_stytch_sdk_refuses_an_organization_or_member_missing_a_required_key(
    stytch_sdk, stytch_sdk_emulator
):
    org = stytch_sdk.organizations.search(limit=1).organizations[0]
    members = stytch_sdk.organizations.members
    member = members.search(organization_ids=[org.organization_id], limit=1).members[0]
    members.get(org.organization_id, member_id=member.member_id)
    answer = stytch_sdk_emulator.app.last_body
    accepted = []
    for part, model in [
        ("organization", org_models.Organization),
        ("member", member_models.Member),
    ]:
        required = [name for name, info in model.model_fields.items() if info.is_required()]
        assert len(required) > 10
        for key, partial in without_each(answer[part], required):
            try:
                member_models.GetResponse.from_json(200, {**answer, part: partial})
            except pydantic.ValidationError:
                continue
            accepted.append(f"{part}.{key}")
    assert accepted == []


def test_workos_sdk_refuses_objects_missing_a_required_key(workos_sdk, workos_sdk_emulator):
    org = workos_sdk.organizations.list_organizations(limit=1).data[0]
    seat = workos_sdk.organization_membership.list_organization_memberships(
        organization_id=org.id, limit=1
    ).data[0]
    answers = []
    for fetch in (
        lambda: workos_sdk.organizations.get_organization(org.id),
        lambda: workos_sdk.user_management.get_user(seat.user_id),
        lambda: workos_sdk.organization_membership.get_organization_membership(seat.id),
        lambda: workos_sdk.authorization.list_organization_roles(org.id).data[0],
    ):
        parsed = fetch()
        body = workos_sdk_emulator.app.last_body
        answers.append((type(parsed), body["data"][0] if "data" in body else body))
    for model, body in answers:
        # `object` is the one key the SDK fills in itself when it is missing.
        required = [
            f.name
            for f in dataclasses.fields(model)
            if f.default is dataclasses.MISSING and f.name != "object"
        ]
        assert required
        for _, partial in without_each(body, required):
            with pytest.raises(workos.WorkOSError, match=model.__name__):
                model.from_dict(partial)

"""Reactivation requests over the API: ask, decide, cancel; every refusal has its code."""

from __future__ import annotations

import pytest

from accounts.models import (
    MirrorStatus,
    OrganizationMembership,
    Outcome,
    ReactivationRequest,
    RequestStatus,
)
from tests.factories import OrganizationFactory, ProviderUserFactory
from tests.fixtures.app_provider import membership_in
from tests.fixtures.audit import assert_audited
from tests.test_api.conftest import assert_envelope

pytestmark = pytest.mark.django_db(transaction=True)

REQUEST_KEYS = {
    "id",
    "targetType",
    "orgId",
    "userId",
    "status",
    "reason",
    "requestedBy",
    "createdAt",
    "expiresAt",
    "decidedBy",
    "decidedAt",
    "comment",
    "errorCode",
    "until",
    "duration",
    "accessUntil",
}


def ask(client, membership: OrganizationMembership, reason: str = "back from leave"):
    return client.post(
        "/reactivation-requests",
        {
            "targetType": "membership",
            "orgId": membership.organization.external_id,
            "userId": membership.user.external_id,
            "reason": reason,
        },
    )


@pytest.fixture
def pending_request(mirrored, help_desk_api) -> dict:
    response = ask(help_desk_api, membership_in(MirrorStatus.INACTIVE))
    assert response.status_code == 201, response.content
    return response.json()


def test_help_desk_asks_for_a_reactivation(mirrored, help_desk, help_desk_api):
    target = membership_in(MirrorStatus.INACTIVE)
    response = ask(help_desk_api, target)
    assert response.status_code == 201
    body = response.json()
    assert set(body) == REQUEST_KEYS
    assert body["targetType"] == "membership"
    assert (body["orgId"], body["userId"]) == (
        target.organization.external_id,
        target.user.external_id,
    )
    assert (body["status"], body["requestedBy"]) == ("pending", help_desk.username)
    event = assert_audited("request.created", outcome=Outcome.REQUESTED)
    assert event.via == "api"
    duplicate = ask(help_desk_api, target)
    assert_envelope(duplicate, 409, "40906002")


def test_user_and_organization_targets(app_provider, help_desk_api):
    user = ProviderUserFactory(provider="workos", status=MirrorStatus.INACTIVE)
    org = OrganizationFactory(provider="workos", status=MirrorStatus.INACTIVE)
    for body in (
        {"targetType": "user", "userId": user.external_id, "reason": "paid"},
        {"targetType": "organization", "orgId": org.external_id, "reason": "paid"},
    ):
        response = help_desk_api.post("/reactivation-requests", body)
        assert response.status_code == 201, response.content
        assert response.json()["targetType"] == body["targetType"]
    assert ReactivationRequest.objects.count() == 2


@pytest.mark.parametrize(
    ("body", "status", "code", "pointer"),
    [
        ({"targetType": "membership", "userId": "u", "reason": "r"}, 422, "42200001", "/orgId"),
        ({"targetType": "user", "reason": "r"}, 422, "42200001", "/userId"),
        ({"targetType": "organization", "orgId": "o", "reason": "  "}, 422, "42200001", "/reason"),
        ({"targetType": "team", "orgId": "o", "reason": "r"}, 422, "42200001", "/targetType"),
        ({"targetType": "organization", "orgId": "org_nope", "reason": "r"}, 404, "40405001", None),
    ],
)
def test_bad_requests_are_refused_with_pointers(
    mirrored, help_desk_api, body, status, code, pointer
):
    result = assert_envelope(help_desk_api.post("/reactivation-requests", body), status, code)
    if pointer:
        assert pointer in [e["pointer"] for e in result["errors"]]


def test_an_active_target_cannot_be_requested(mirrored, help_desk_api):
    assert_envelope(ask(help_desk_api, membership_in(MirrorStatus.ACTIVE)), 409, "40905002")


def test_manager_approves_and_the_change_is_made(pending_request, manager, manager_api, mirrored):
    response = manager_api.post(f"/reactivation-requests/{pending_request['id']}/approve")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "executed"
    assert body["decidedBy"] == manager.username
    membership = OrganizationMembership.objects.get(
        organization__external_id=body["orgId"], user__external_id=body["userId"]
    )
    assert membership.status == MirrorStatus.ACTIVE
    assert mirrored.get_membership(membership.external_id).status == "active"
    again = manager_api.post(f"/reactivation-requests/{pending_request['id']}/approve")
    assert_envelope(again, 409, "40906001")


def test_nobody_approves_their_own_request(mirrored, manager_api):
    own = ask(manager_api, membership_in(MirrorStatus.INACTIVE)).json()
    response = manager_api.post(f"/reactivation-requests/{own['id']}/approve")
    assert_envelope(response, 403, "40306001")


def test_help_desk_cannot_approve(pending_request, help_desk_api):
    response = help_desk_api.post(f"/reactivation-requests/{pending_request['id']}/approve")
    assert_envelope(response, 403, "40302001")


def test_reject_needs_a_comment(pending_request, manager_api):
    path = f"/reactivation-requests/{pending_request['id']}/reject"
    result = assert_envelope(manager_api.post(path, {}), 422, "42200001")
    assert result["errors"][0]["pointer"] == "/comment"
    response = manager_api.post(path, {"comment": "not verified"})
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["comment"]) == ("rejected", "not verified")


def test_requester_cancels_but_others_may_not(pending_request, help_desk_api, other_manager_api):
    path = f"/reactivation-requests/{pending_request['id']}/cancel"
    assert other_manager_api.post(path).status_code == 403
    response = help_desk_api.post(path)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    assert ReactivationRequest.objects.get().status == RequestStatus.CANCELLED


def test_deciding_an_unknown_request_is_404(mirrored, manager_api):
    for action in ("approve", "cancel"):
        response = manager_api.post(f"/reactivation-requests/424242/{action}")
        assert_envelope(response, 404, "40406001")


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        ({"fail": [503]}, 503, "50304002"),
        ({"fail": [409]}, 409, "40904001"),
    ],
)
def test_approval_the_provider_fails_answers_with_the_provider_error(
    pending_request, manager_api, workos_emulator, fault, status, code
):
    workos_emulator.app.faults.configure(fault)
    response = manager_api.post(f"/reactivation-requests/{pending_request['id']}/approve")
    body = assert_envelope(response, status, code)
    assert body["meta"]["request"]["id"] == pending_request["id"]
    assert body["meta"]["request"]["status"] == "failed"
    assert body["meta"]["request"]["errorCode"] == code
    assert body["meta"]["provider"] == "workos"
    stored = ReactivationRequest.objects.get(pk=pending_request["id"])
    assert (stored.status, stored.error_code) == (RequestStatus.FAILED, code)
    assert stored.membership.status == MirrorStatus.INACTIVE
    assert assert_audited("request.failed", target=stored).error_code == code
    assert assert_audited("membership.reactivated", outcome=Outcome.FAILED).error_code == code

"""Console actions against the WorkOS emulator: requests, approvals, direct changes, roles."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.urls import reverse

from accounts.errors import ErrorCode
from accounts.models import (
    AuditEvent,
    MembershipRole,
    MirrorStatus,
    OrganizationMembership,
    OrganizationRole,
    Outcome,
    ReactivationRequest,
    RequestStatus,
    SyncRun,
)
from tests.factories import OrganizationFactory
from tests.fixtures.app_provider import inactive_membership
from tests.fixtures.audit import assert_audited

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}


def request_for(client, membership, reason="Customer confirmed by phone"):
    url = reverse("console:membership-request", args=[membership.pk])
    return client.post(url, {"reason": reason}, headers=HX)


def test_help_desk_requests_reactivation_inline(client, mirrored, help_desk):
    membership = inactive_membership()
    client.force_login(help_desk)
    response = request_for(client, membership)
    body = response.content.decode()
    assert response.status_code == HTTPStatus.OK
    assert body.lstrip().startswith(
        f'<article class="card membership" id="membership-{membership.pk}"'
    )
    assert "sent to the managers" in body
    assert "Reactivation pending" in body
    assert "karmo:changed" in response["HX-Trigger"]
    request = ReactivationRequest.objects.get(membership=membership)
    assert request.requested_by == help_desk
    assert_audited("request.created", outcome=Outcome.REQUESTED)


def test_request_without_reason_shows_the_error_inline(client, mirrored, help_desk):
    membership = inactive_membership()
    client.force_login(help_desk)
    response = request_for(client, membership, reason="   ")
    body = response.content.decode()
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert response["X-Karmo-Fragment"] == "1"
    assert ErrorCode.REASON_REQUIRED.message in body
    assert 'aria-invalid="true"' in body
    assert not ReactivationRequest.objects.exists()


def test_request_without_htmx_redirects_with_a_message(client, mirrored, help_desk):
    membership = inactive_membership()
    client.force_login(help_desk)
    url = reverse("console:membership-request", args=[membership.pk])
    response = client.post(url, {"reason": "because"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("console:person", args=[membership.user_id])
    assert "sent to the managers" in response.content.decode()


def test_a_second_request_is_refused_inline_and_nothing_is_doubled(client, mirrored, help_desk):
    membership = inactive_membership()
    client.force_login(help_desk)
    request_for(client, membership)
    response = request_for(client, membership)
    assert response.status_code == HTTPStatus.CONFLICT
    assert ErrorCode.OPEN_REQUEST_EXISTS.code in response.content.decode()
    assert ReactivationRequest.objects.filter(membership=membership).count() == 1


def test_manager_approves_and_the_membership_is_active(
    client, mirrored, help_desk, manager, workos_emulator
):
    membership = inactive_membership()
    client.force_login(help_desk)
    request_for(client, membership)
    request = ReactivationRequest.objects.get()
    client.force_login(manager)
    page = client.get(reverse("console:approvals")).content.decode()
    assert reverse("console:approve", args=[request.pk]) in page
    response = client.post(reverse("console:approve", args=[request.pk]), headers=HX)
    assert response.status_code == HTTPStatus.OK
    assert "Approved." in response.content.decode()
    assert "karmo:badge" in response["HX-Trigger"]
    membership.refresh_from_db()
    assert membership.status == MirrorStatus.ACTIVE
    request.refresh_from_db()
    assert request.status == RequestStatus.EXECUTED
    calls = workos_emulator.app.request_count
    again = client.post(reverse("console:approve", args=[request.pk]), headers=HX)
    assert again.status_code == HTTPStatus.CONFLICT
    assert workos_emulator.app.request_count == calls


def test_help_desk_sees_no_approve_button_and_a_forged_post_is_refused_and_audited(
    client, mirrored, help_desk, other_manager
):
    membership = inactive_membership()
    client.force_login(other_manager)
    request_for(client, membership)
    request = ReactivationRequest.objects.get()
    client.force_login(help_desk)
    assert "Approve" not in client.get(reverse("console:approvals")).content.decode()
    response = client.post(reverse("console:approve", args=[request.pk]), headers=HX)
    assert response.status_code == HTTPStatus.FORBIDDEN
    event = assert_audited("request.approved", outcome=Outcome.DENIED)
    assert event.actor == help_desk
    assert event.error_code == ErrorCode.PERMISSION_DENIED.code
    assert event.target_type == "reactivationrequest"
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING


def test_manager_cannot_approve_own_request(client, mirrored, manager):
    membership = inactive_membership()
    client.force_login(manager)
    request_for(client, membership)
    request = ReactivationRequest.objects.get()
    assert (
        reverse("console:approve", args=[request.pk])
        not in client.get(reverse("console:approvals")).content.decode()
    )
    response = client.post(reverse("console:approve", args=[request.pk]), headers=HX)
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response["X-Karmo-Fragment"] == "1"
    assert ErrorCode.SELF_APPROVAL.message in response.content.decode()


def test_reject_needs_a_comment(client, mirrored, help_desk, manager):
    membership = inactive_membership()
    client.force_login(help_desk)
    request_for(client, membership)
    request = ReactivationRequest.objects.get()
    client.force_login(manager)
    url = reverse("console:reject", args=[request.pk])
    response = client.post(url, {"comment": ""}, headers=HX)
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert ErrorCode.COMMENT_REQUIRED.message in response.content.decode()
    response = client.post(url, {"comment": "Not verified"}, headers=HX)
    assert response.status_code == HTTPStatus.OK
    request.refresh_from_db()
    assert request.status == RequestStatus.REJECTED


def test_requester_cancels_own_request(client, mirrored, help_desk):
    membership = inactive_membership()
    client.force_login(help_desk)
    request_for(client, membership)
    request = ReactivationRequest.objects.get()
    assert "Cancel my request" in client.get(reverse("console:approvals")).content.decode()
    response = client.post(reverse("console:cancel", args=[request.pk]), headers=HX)
    assert response.status_code == HTTPStatus.OK
    request.refresh_from_db()
    assert request.status == RequestStatus.CANCELLED


def test_badge_counts_pending_requests(client, mirrored, help_desk, manager):
    client.force_login(help_desk)
    request_for(client, inactive_membership())
    client.force_login(manager)
    response = client.get(reverse("console:approvals-badge"), headers=HX)
    body = response.content.decode()
    assert body.lstrip().startswith('<a id="approvals-link"')
    assert '<span class="count">1</span>' in body


def test_manager_reactivates_directly_and_a_double_click_changes_nothing_twice(
    client, mirrored, manager, workos_emulator
):
    membership = inactive_membership()
    client.force_login(manager)
    url = reverse("console:membership-reactivate", args=[membership.pk])
    first = client.post(url, {"reason": "verified"}, headers=HX)
    assert "Membership reactivated." in first.content.decode()
    calls = workos_emulator.app.request_count
    second = client.post(url, {"reason": "verified"}, headers=HX)
    assert second.status_code == HTTPStatus.OK
    assert "nothing changed" in second.content.decode()
    assert workos_emulator.app.request_count == calls
    membership.refresh_from_db()
    assert membership.status == MirrorStatus.ACTIVE


def test_manager_deactivates(client, mirrored, manager):
    membership = OrganizationMembership.objects.filter(status=MirrorStatus.ACTIVE).first()
    client.force_login(manager)
    url = reverse("console:membership-deactivate", args=[membership.pk])
    response = client.post(url, {"reason": "left the company"}, headers=HX)
    assert "Membership deactivated." in response.content.decode()
    membership.refresh_from_db()
    assert membership.status == MirrorStatus.INACTIVE


@pytest.mark.parametrize(
    ("name", "event_type"),
    [
        ("console:membership-reactivate", "membership.reactivated"),
        ("console:membership-deactivate", "membership.deactivated"),
        ("console:membership-roles", "membership.roles_set"),
    ],
)
def test_help_desk_cannot_post_manager_actions(client, mirrored, help_desk, name, event_type):
    membership = inactive_membership()
    client.force_login(help_desk)
    response = client.post(reverse(name, args=[membership.pk]), {"reason": "x"}, headers=HX)
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert_audited(event_type, outcome=Outcome.DENIED)


def test_auditor_cannot_request(client, mirrored, auditor):
    client.force_login(auditor)
    response = request_for(client, inactive_membership())
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert_audited("request.created", outcome=Outcome.DENIED)


def test_role_slug_is_validated_as_typed(client, mirrored, manager):
    org = inactive_membership().organization
    client.force_login(manager)
    url = reverse("console:organization-role-validate", args=[org.pk])
    bad = client.post(url, {"slug": "Support"}, headers=HX).content.decode()
    assert bad.lstrip().startswith('<div id="slug-field"')
    assert ErrorCode.INVALID_ROLE_SLUG.message.replace("'", "&#x27;") in bad
    good = client.post(url, {"slug": "org-support"}, headers=HX).content.decode()
    assert "Looks good: a new role." in good
    assert "field-error" not in good


def test_invalid_role_is_refused_inline(client, mirrored, manager):
    org = inactive_membership().organization
    client.force_login(manager)
    url = reverse("console:organization-role-save", args=[org.pk])
    response = client.post(url, {"slug": "support", "name": "Support"}, headers=HX)
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert ErrorCode.INVALID_ROLE_SLUG.code in response.content.decode()
    assert not OrganizationRole.objects.filter(slug="support").exists()


def test_manager_creates_a_role_and_assigns_it(client, mirrored, manager):
    membership = OrganizationMembership.objects.filter(status=MirrorStatus.ACTIVE).first()
    org = membership.organization
    client.force_login(manager)
    save = reverse("console:organization-role-save", args=[org.pk])
    response = client.post(save, {"slug": "org-support", "name": "Support"}, headers=HX)
    assert response.status_code == HTTPStatus.OK
    assert "Role org-support saved." in response.content.decode()
    assert OrganizationRole.objects.filter(organization=org, slug="org-support").exists()
    person_page = client.get(reverse("console:person", args=[membership.user_id])).content
    assert b'value="org-support"' in person_page
    roles = reverse("console:membership-roles", args=[membership.pk])
    response = client.post(roles, {"roles": ["org-support"]}, headers=HX)
    assert "Roles saved." in response.content.decode()
    assert list(
        MembershipRole.objects.filter(membership=membership).values_list("slug", flat=True)
    ) == ["org-support"]
    bogus = client.post(roles, {"roles": ["org-nope"]}, headers=HX)
    assert bogus.status_code == HTTPStatus.UNPROCESSABLE_ENTITY


def test_organization_actions_follow_provider_capabilities(client, mirrored, manager):
    org = OrganizationMembership.objects.filter(status=MirrorStatus.ACTIVE).first().organization
    client.force_login(manager)
    page = client.get(reverse("console:organization", args=[org.pk])).content.decode()
    assert "Deactivate organization" not in page  # WorkOS cannot deactivate organizations
    response = client.post(
        reverse("console:organization-deactivate", args=[org.pk]), {"reason": "fraud"}, headers=HX
    )
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert ErrorCode.UNSUPPORTED_BY_PROVIDER.code in response.content.decode()


def test_organization_reactivation_is_hidden_when_the_provider_cannot(client, mirrored, help_desk):
    org = OrganizationFactory(status=MirrorStatus.INACTIVE, provider="workos")
    client.force_login(help_desk)
    page = client.get(reverse("console:organization", args=[org.pk])).content.decode()
    assert "Request reactivation" not in page
    assert "Reactivate organization" not in page


def test_refresh_person_from_provider(client, mirrored, help_desk):
    person = inactive_membership().user
    client.force_login(help_desk)
    response = client.post(reverse("console:person-refresh", args=[person.pk]), headers=HX)
    assert response.status_code == HTTPStatus.OK
    assert response.content.decode().lstrip().startswith('<div id="person-body"')
    assert "Refreshed from the provider." in response.content.decode()
    assert_audited("user.refreshed", outcome=Outcome.SUCCEEDED)


def test_unreachable_provider_shows_the_error_and_a_banner(
    client, mirrored, manager, workos_emulator
):
    membership = inactive_membership()
    workos_emulator.app.faults.configure({"fail": [503, 503, 503, 503]})
    client.force_login(manager)
    url = reverse("console:membership-reactivate", args=[membership.pk])
    response = client.post(url, {"reason": "x"}, headers=HX)
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert ErrorCode.PROVIDER_UNAVAILABLE.code in response.content.decode()
    page = client.get(reverse("console:find")).content.decode()
    assert "Provider unreachable." in page
    membership.refresh_from_db()
    assert membership.status == MirrorStatus.INACTIVE


def test_not_configured_provider_shows_a_banner_and_disables_actions(client, settings, manager):
    settings.KARMO_PROVIDER = "workos"
    settings.WORKOS_API_KEY = ""
    client.force_login(manager)
    body = client.get(reverse("console:sync")).content.decode()
    assert "Provider not configured." in body
    assert "WORKOS_API_KEY" in body
    assert "disabled>Start a full sync" in body.replace("\n", "").replace("  ", "")


def test_manager_starts_a_sync_and_help_desk_cannot(client, mirrored, manager, help_desk):
    client.force_login(help_desk)
    assert client.post(reverse("console:sync-start"), headers=HX).status_code == 403
    assert_audited("sync.requested", outcome=Outcome.DENIED)
    client.force_login(manager)
    response = client.post(reverse("console:sync-start"), headers=HX)
    body = response.content.decode()
    run = SyncRun.objects.get()
    assert body.lstrip().startswith('<section id="progress"')
    assert f'hx-get="{reverse("console:sync-progress", args=[run.pk])}"' in body
    client.post(reverse("console:sync-start"), headers=HX)
    assert SyncRun.objects.count() == 1
    progress = client.get(reverse("console:sync-progress", args=[run.pk]), headers=HX)
    assert f"Run #{run.pk}" in progress.content.decode()
    assert (
        AuditEvent.objects.filter(event_type="sync.requested", outcome=Outcome.REQUESTED).count()
        == 1
    )

"""Dry runs: the same checks as the change, nothing sent to the provider, nothing written."""

from __future__ import annotations

import pytest

from accounts import approvals, services
from accounts.models import (
    AuditEvent,
    MembershipRole,
    MirrorStatus,
    OrganizationRole,
    Outcome,
)
from tests.fixtures.app_provider import inactive_membership
from tests.fixtures.audit import assert_audited
from tests.test_api.conftest import ApiClient, assert_envelope, make_token

pytestmark = pytest.mark.django_db(transaction=True)


def test_api_preview_matches_the_real_change_and_calls_no_provider(
    mirrored, manager, workos_emulator
):
    target = inactive_membership()
    api = ApiClient(make_token(manager))
    path = f"/orgs/{target.organization.external_id}/users/{target.user.external_id}/reactivate"
    events = AuditEvent.objects.count()
    workos_emulator.app.request_log.clear()
    preview = api.post(f"{path}?dryRun=true")
    assert preview.status_code == 200, preview.content
    body = preview.json()
    assert list(workos_emulator.app.request_log) == []
    assert AuditEvent.objects.count() == events
    target.refresh_from_db()
    assert target.status == MirrorStatus.INACTIVE
    assert body["dryRun"] is True
    assert body["supported"] is True
    assert body["approvalNeeded"] is False
    assert body["providerCall"] == f"workos.reactivate_membership({target.external_id})"
    assert body["before"]["status"] == "inactive"
    assert body["after"]["status"] == "active"
    real = api.post(path)
    assert real.status_code == 200
    assert real.json()["status"] == "active"
    outcome = assert_audited("membership.reactivated", target=target, outcome=Outcome.SUCCEEDED)
    assert outcome.before == body["before"]
    assert body["after"]["raw_status"] is None
    assert {**outcome.after, "raw_status": None} == body["after"]


def test_help_desk_preview_says_an_approval_is_needed(mirrored, help_desk, workos_emulator):
    target = inactive_membership()
    events = AuditEvent.objects.count()
    workos_emulator.app.request_log.clear()
    change = services.reactivate_membership(actor=help_desk, membership=target, preview=True)
    assert change.preview.approval_needed is True
    assert change.preview.after["status"] == "active"
    assert list(workos_emulator.app.request_log) == []
    assert AuditEvent.objects.count() == events


def test_role_preview_by_prefer_header_shows_the_blast_radius(mirrored, manager, workos_emulator):
    held = MembershipRole.objects.filter(
        membership__removed_at__isnull=True,
        slug__in=OrganizationRole.objects.filter(
            organization__isnull=False, slug__startswith="org-"
        ).values("slug"),
    ).first()
    org, slug = held.organization, held.slug
    holders = MembershipRole.objects.filter(
        organization=org, slug=slug, membership__removed_at__isnull=True
    )
    api = ApiClient(make_token(manager))
    events = AuditEvent.objects.count()
    workos_emulator.app.request_log.clear()
    response = api.put(
        f"/orgs/{org.external_id}/roles/{slug}", {"name": "Renamed"}, Prefer="dry-run"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert list(workos_emulator.app.request_log) == []
    assert body["after"]["name"] == "Renamed"
    assert body["blastRadius"]["memberships"] == holders.count()
    assert body["blastRadius"]["organizations"] == [org.external_id]
    assert len(body["blastRadius"]["sample"]) == min(10, holders.count())
    assert AuditEvent.objects.count() == events


def test_roles_organization_and_user_changes_preview_without_a_provider_call(
    mirrored, manager, workos_emulator
):
    membership = inactive_membership()
    org, user = membership.organization, membership.user
    api = ApiClient(make_token(manager))
    assignable = OrganizationRole.objects.filter(organization__in=[org, None]).values_list(
        "slug", flat=True
    )
    wanted = sorted(set(assignable) - set(membership.role_slugs))[:1]
    assert wanted
    events = AuditEvent.objects.count()
    workos_emulator.app.request_log.clear()
    calls = [
        ("PUT", f"/orgs/{org.external_id}/users/{user.external_id}/roles", {"roles": wanted}),
        ("POST", f"/orgs/{org.external_id}/reactivate", None),
        ("POST", f"/users/{user.external_id}/activate", None),
    ]
    for method, path, body in calls:
        answer = api.request(method, f"{path}?dryRun=true", body)
        assert answer.status_code == 200, (path, answer.content)
        assert answer.json()["dryRun"] is True, path
    roles_preview = api.request(*calls[0][:2], calls[0][2], Prefer="dry-run").json()
    assert roles_preview["after"]["roles"] == wanted
    assert roles_preview["before"]["roles"] == membership.role_slugs
    assert list(workos_emulator.app.request_log) == []
    assert AuditEvent.objects.count() == events
    membership.refresh_from_db()
    assert membership.role_slugs == roles_preview["before"]["roles"]


def test_approval_preview_checks_the_decider_and_shows_the_change_it_would_make(
    mirrored, manager, help_desk, workos_emulator
):
    target = inactive_membership()
    pending = approvals.request_reactivation(actor=help_desk, target=target, reason="renewed")
    path = f"/reactivation-requests/{pending.pk}/approve"
    workos_emulator.app.request_log.clear()
    own = ApiClient(make_token(help_desk)).post(f"{path}?dryRun=true")
    assert own.status_code == 403, own.content
    api = ApiClient(make_token(manager))
    events = AuditEvent.objects.count()
    preview = api.post(path, Prefer="dry-run")
    assert preview.status_code == 200, preview.content
    body = preview.json()
    assert list(workos_emulator.app.request_log) == []
    assert AuditEvent.objects.count() == events
    pending.refresh_from_db()
    assert pending.status == "pending"
    assert body["providerCall"] == f"workos.reactivate_membership({target.external_id})"
    real = api.post(path)
    assert real.json()["status"] == "executed"
    outcome = assert_audited("membership.reactivated", target=target, outcome=Outcome.SUCCEEDED)
    assert outcome.before == body["before"]
    assert {**outcome.after, "raw_status": None} == body["after"]
    assert_envelope(api.post(f"{path}?dryRun=true"), 409, "40906001")

"""The Django admin: read-only mirror pages with bounded queries, service-backed actions."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.approvals import request_reactivation
from accounts.audit import record_event
from accounts.models import (
    ApiToken,
    AuditEvent,
    MirrorStatus,
    OrganizationMembership,
    Outcome,
    SyncRun,
)
from accounts.sync import run_sync
from accounts.tokens import hash_token, issue_token
from tests.factories import (
    MembershipFactory,
    MembershipRoleFactory,
    OrganizationFactory,
    OrganizationRoleFactory,
)

pytestmark = pytest.mark.django_db


MIRROR_PAGES = {
    "organization": "?status__exact=active&provider=sandbox&presence=present&q=Organization",
    "provideruser": "?status__exact=active&email_verified__exact=1&q=person",
    "organizationmembership": "?status__exact=active&organization__id__exact={org}&q=person",
    "organizationrole": "?provider=sandbox&q=role",
    "membershiprole": "?slug=member",
    "syncrun": "?state__exact=succeeded",
    "reactivationrequest": "?status__exact=pending&q=x",
    "auditevent": "?outcome__exact=recorded&group=sync&q=sync.started",
    "apitoken": "?q=ci",
}


def make_rows(count: int, organization=None):
    organization = organization or OrganizationFactory()
    for _ in range(count):
        membership = MembershipFactory(organization=organization)
        MembershipRoleFactory(membership=membership, slug="org-admin")
        OrganizationRoleFactory(organization=organization)
        record_event(event_type="sync.started", outcome=Outcome.RECORDED, target=membership)
    SyncRun.objects.create(provider="sandbox", state=SyncRun.State.SUCCEEDED)
    return organization


def changelist_queries(client, model: str, query: str) -> int:
    url = reverse(f"admin:accounts_{model}_changelist")
    with CaptureQueriesContext(connection) as captured:
        for suffix in ("", query):
            response = client.get(url + suffix)
            assert response.status_code == HTTPStatus.OK, (model, suffix)
    return len(captured.captured_queries)


@pytest.mark.parametrize("model", list(MIRROR_PAGES))
def test_changelist_queries_do_not_grow_with_rows(admin_client, model):
    organization = make_rows(3)
    query = MIRROR_PAGES[model].format(org=organization.pk)
    few = changelist_queries(admin_client, model, query)
    make_rows(30, organization)
    many = changelist_queries(admin_client, model, query)
    assert few == many


def test_changelist_filters_and_searches(admin_client):
    make_rows(2)
    target = MembershipFactory(user__email="findme@customer.example", inactive=True)
    url = reverse("admin:accounts_organizationmembership_changelist")

    found = admin_client.get(url, {"q": "findme"})
    inactive = admin_client.get(url, {"status__exact": "inactive"})
    active = admin_client.get(url, {"status__exact": "active"})

    assert "findme@customer.example" in found.text
    assert found.context["cl"].result_count == 1
    assert [m.pk for m in inactive.context["cl"].result_list] == [target.pk]
    assert target.pk not in [m.pk for m in active.context["cl"].result_list]


def test_paginator_caps_its_count_without_a_full_table_count(admin_client, settings):
    from accounts.admin.base import CappedCountPaginator

    make_rows(5)
    paginator = CappedCountPaginator(OrganizationMembership.objects.order_by("pk"), 2)
    paginator.cap = 3
    with CaptureQueriesContext(connection) as captured:
        count = paginator.count
    assert count >= 3
    assert paginator.capped
    assert "LIMIT 4" in captured.captured_queries[0]["sql"]


@pytest.mark.parametrize(
    "model",
    ["organization", "provideruser", "organizationmembership", "organizationrole", "auditevent"],
)
def test_change_view_is_read_only_even_for_superusers(admin_client, model):
    make_rows(1)
    row = {
        "organization": lambda: OrganizationFactory(),
        "provideruser": lambda: MembershipFactory().user,
        "organizationmembership": lambda: MembershipFactory(),
        "organizationrole": lambda: OrganizationRoleFactory(),
        "auditevent": lambda: AuditEvent.objects.first(),
    }[model]()
    change = reverse(f"admin:accounts_{model}_change", args=[row.pk])

    page = admin_client.get(change)
    posted = admin_client.post(change, {"status": "inactive", "event_type": "x"})
    deleted = admin_client.post(reverse(f"admin:accounts_{model}_delete", args=[row.pk]))
    added = admin_client.get(reverse(f"admin:accounts_{model}_add"))

    assert page.status_code == HTTPStatus.OK
    assert 'name="_save"' not in page.text
    assert posted.status_code == HTTPStatus.FORBIDDEN
    assert deleted.status_code == HTTPStatus.FORBIDDEN
    assert added.status_code == HTTPStatus.FORBIDDEN
    assert type(row).objects.filter(pk=row.pk).exists()


def test_audit_log_offers_no_actions(admin_client):
    make_rows(1)
    before = AuditEvent.objects.count()
    response = admin_client.get(reverse("admin:accounts_auditevent_changelist"))
    assert response.context["action_form"] is None
    # Reading the log writes nothing (the admin's sign-in and account events came before).
    assert AuditEvent.objects.count() == before
    assert AuditEvent.objects.filter(event_type="sync.started").count() == 1


def test_api_token_is_shown_once_and_stored_hashed(admin_client, admin_user, manager):
    response = admin_client.post(
        reverse("admin:accounts_apitoken_add"), {"user": manager.pk, "name": "ci"}
    )

    assert response.status_code == HTTPStatus.OK
    raw = response.context["raw_token"]
    token = ApiToken.objects.get()
    assert len(raw) >= 40
    assert raw in response.text
    assert token.token_hash == hash_token(raw)
    assert token.prefix == raw[:8]
    assert (
        raw not in admin_client.get(reverse("admin:accounts_apitoken_change", args=[token.pk])).text
    )
    issued = AuditEvent.objects.get(event_type="api_token.issued")
    assert (issued.actor, issued.target_id) == (admin_user, str(token.pk))
    assert raw not in str(issued.after)


def test_revoking_a_token_is_audited(admin_client, manager):
    admin_client.post(reverse("admin:accounts_apitoken_add"), {"user": manager.pk, "name": "ci"})
    token = ApiToken.objects.get()

    admin_client.post(
        reverse("admin:accounts_apitoken_changelist"),
        {"action": "revoke_tokens", ACTION_CHECKBOX_NAME: [token.pk]},
    )

    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditEvent.objects.filter(event_type="api_token.revoked").count() == 1


def test_staff_roles_see_only_the_actions_they_may_take(client, help_desk, manager, auditor):
    MembershipFactory()
    url = reverse("admin:accounts_organizationmembership_changelist")
    offered = {}
    for user in (help_desk, manager, auditor):
        client.force_login(user)
        response = client.get(url)
        assert response.status_code == HTTPStatus.OK
        form = response.context["action_form"]
        choices = form.fields["action"].choices if form is not None else []
        offered[user.username] = {name for name, _ in choices if name}
    assert offered[help_desk.username] == {"request_reactivation"}
    assert offered[manager.username] == {
        "request_reactivation",
        "reactivate_memberships",
        "deactivate_memberships",
    }
    assert offered[auditor.username] == set()


@pytest.fixture
def synced(workos_provider, workos_emulator, settings):
    """The mirror synced from the emulator, which the app's provider points at."""
    settings.KARMO_SANDBOX_URL = workos_emulator.url
    run_sync(provider=workos_provider)


def test_bulk_reactivation_confirms_then_reports_each_result(client, manager, synced):
    inactive = OrganizationMembership.objects.filter(status=MirrorStatus.INACTIVE).first()
    pending = OrganizationMembership.objects.filter(status=MirrorStatus.PENDING).first()
    client.force_login(manager)
    url = reverse("admin:accounts_organizationmembership_changelist")
    chosen = {"action": "reactivate_memberships", ACTION_CHECKBOX_NAME: [inactive.pk, pending.pk]}

    confirm = client.post(url, chosen)
    without_reason = client.post(url, {**chosen, "confirm": "yes", "reason": ""})
    done = client.post(url, {**chosen, "confirm": "yes", "reason": "Customer renewed"})

    assert "Reactivate each inactive membership" in confirm.text
    assert str(inactive) in confirm.text
    assert without_reason.context["form"].errors
    inactive.refresh_from_db()
    pending.refresh_from_db()
    assert inactive.status == MirrorStatus.ACTIVE
    assert pending.status == MirrorStatus.PENDING
    results = {r.target.pk: r for r in done.context["results"]}
    assert results[inactive.pk].ok
    assert not results[pending.pk].ok
    assert results[pending.pk].code
    assert (done.context["succeeded"], done.context["failed"]) == (1, 1)
    assert "Failed:" in done.text


def test_help_desk_requests_reactivation_from_the_admin(client, help_desk, synced):
    inactive = OrganizationMembership.objects.filter(status=MirrorStatus.INACTIVE).first()
    client.force_login(help_desk)

    response = client.post(
        reverse("admin:accounts_organizationmembership_changelist"),
        {
            "action": "request_reactivation",
            ACTION_CHECKBOX_NAME: [inactive.pk],
            "confirm": "yes",
            "reason": "Ticket 4711",
        },
    )

    [result] = response.context["results"]
    assert result.ok, result.summary
    assert inactive.reactivationrequest_set.get().reason == "Ticket 4711"
    inactive.refresh_from_db()
    assert inactive.status == MirrorStatus.INACTIVE


def test_manager_starts_a_sync_from_the_admin(client, manager, synced, settings):
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    client.force_login(manager)

    response = client.post(reverse("admin:accounts_syncrun_start"))

    run = SyncRun.objects.latest("pk")
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == reverse("admin:accounts_syncrun_change", args=[run.pk])
    assert (run.state, run.started_by) == (SyncRun.State.SUCCEEDED, manager)
    assert client.get(reverse("admin:accounts_syncrun_start")).status_code == 405


def test_help_desk_cannot_start_a_sync_from_the_admin(client, help_desk):
    client.force_login(help_desk)
    page = client.get(reverse("admin:accounts_syncrun_changelist"))

    response = client.post(reverse("admin:accounts_syncrun_start"))

    assert "Start a full sync" not in page.text
    assert response.status_code == HTTPStatus.FOUND
    assert not SyncRun.objects.exists()
    assert AuditEvent.objects.get(event_type="sync.requested").outcome == Outcome.DENIED


def test_manager_approves_a_request_from_the_admin(client, help_desk, manager, synced):
    inactive = OrganizationMembership.objects.filter(status=MirrorStatus.INACTIVE).first()
    request = request_reactivation(actor=help_desk, target=inactive, reason="Ticket 4712")
    client.force_login(manager)
    url = reverse("admin:accounts_reactivationrequest_changelist")
    chosen = {"action": "approve_requests", ACTION_CHECKBOX_NAME: [request.pk]}

    confirm = client.post(url, chosen)
    done = client.post(url, {**chosen, "confirm": "yes"})

    assert "Carry out each reactivation" in confirm.text
    [result] = done.context["results"]
    assert result.ok, result.summary
    request.refresh_from_db()
    inactive.refresh_from_db()
    assert request.status == "executed"
    assert inactive.status == MirrorStatus.ACTIVE


def test_reject_needs_a_comment(client, help_desk, manager, synced):
    inactive = OrganizationMembership.objects.filter(status=MirrorStatus.INACTIVE).first()
    request = request_reactivation(actor=help_desk, target=inactive, reason="Ticket 4713")
    client.force_login(manager)
    url = reverse("admin:accounts_reactivationrequest_changelist")
    chosen = {"action": "reject_requests", ACTION_CHECKBOX_NAME: [request.pk], "confirm": "yes"}

    refused = client.post(url, {**chosen, "reason": " "})
    done = client.post(url, {**chosen, "reason": "Contract ended"})

    assert refused.context["form"].errors
    assert done.context["results"][0].ok
    request.refresh_from_db()
    assert (request.status, request.decision_comment) == ("rejected", "Contract ended")


@pytest.mark.parametrize("model", ["syncrun", "reactivationrequest", "apitoken"])
def test_record_change_views_are_read_only(admin_client, help_desk, manager, model):
    inactive = MembershipFactory(inactive=True)
    row = {
        "syncrun": lambda: SyncRun.objects.create(provider="sandbox", errors="boom"),
        "reactivationrequest": lambda: request_reactivation(
            actor=help_desk, target=inactive, reason="Ticket"
        ),
        "apitoken": lambda: issue_token(manager, "ci")[0],
    }[model]()
    change = reverse(f"admin:accounts_{model}_change", args=[row.pk])

    page = admin_client.get(change)
    posted = admin_client.post(change, {"name": "renamed", "status": "executed"})

    assert page.status_code == HTTPStatus.OK
    assert 'name="_save"' not in page.text
    assert posted.status_code == HTTPStatus.FORBIDDEN


def test_token_expiry_must_be_in_the_future(admin_client, manager):
    response = admin_client.post(
        reverse("admin:accounts_apitoken_add"),
        {"user": manager.pk, "name": "ci", "expires_at_0": "2020-01-01", "expires_at_1": "10:00"},
    )

    assert response.status_code == HTTPStatus.OK
    assert "in the future" in response.text
    assert not ApiToken.objects.exists()

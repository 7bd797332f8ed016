"""Reactivation requests: asking, deciding, executing through the service, expiry and emails."""

from __future__ import annotations

import io
import threading
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import AnonymousUser, User
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from accounts import approvals
from accounts.errors import ErrorCode, KarmoError
from accounts.models import (
    AuditEvent,
    MirrorStatus,
    Organization,
    OrganizationMembership,
    Outcome,
    ProviderUser,
    ReactivationRequest,
    RequestStatus,
)
from tests.factories import MembershipFactory
from tests.fixtures.app_provider import inactive_membership, memberships_in
from tests.fixtures.audit import assert_audited

pytestmark = pytest.mark.django_db(transaction=True)

ON_POSTGRES = django_settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


def cost_of_one_reactivation(provider, emulator) -> int:
    """Emulator requests one reactivation through the service makes: the adapter's (WorkOS: GET,
    then PUT) and one GET that verifies the change, as many as the GET and call below."""
    spare = (
        OrganizationMembership.objects.filter(status=MirrorStatus.INACTIVE)
        .order_by("-external_id")
        .first()
    )
    before = emulator.app.request_count
    provider.reactivate_membership(provider.get_membership(spare.external_id))
    return emulator.app.request_count - before


@pytest.fixture
def pending(mirrored, help_desk) -> ReactivationRequest:
    """A help-desk request to reactivate an inactive membership that exists at the emulator."""
    return approvals.request_reactivation(
        actor=help_desk, target=inactive_membership(), reason="Customer renewed the contract"
    )


def test_help_desk_request_is_pending_audited_and_mailed_to_managers(
    mirrored, help_desk, manager, other_manager, mailoutbox
):
    target = inactive_membership()
    request = approvals.request_reactivation(actor=help_desk, target=target, reason="  renewed ")
    assert request.status == RequestStatus.PENDING
    assert request.reason == "renewed"
    assert request.requested_by == help_desk
    hours = (request.expires_at - request.created_at).total_seconds() / 3600
    assert round(hours) == django_settings.KARMO_REQUEST_EXPIRY_HOURS
    event = assert_audited("request.created", target=request, outcome=Outcome.REQUESTED)
    assert event.correlation_id == request.correlation_id
    assert event.user_external_id == target.user.external_id
    assert len(mailoutbox) == 1
    assert sorted(mailoutbox[0].to) == [manager.email, other_manager.email]
    assert target.user.email in mailoutbox[0].body
    assert "renewed" in mailoutbox[0].body


def test_request_needs_a_reason(mirrored, help_desk):
    target = inactive_membership()
    with pytest.raises(KarmoError) as caught:
        approvals.request_reactivation(actor=help_desk, target=target, reason="  ")
    assert caught.value.code is ErrorCode.REASON_REQUIRED
    assert caught.value.errors[0].pointer == "/reason"
    assert not ReactivationRequest.objects.exists()
    assert_audited("request.created", target=target, outcome=Outcome.DENIED)


def test_active_target_cannot_be_requested(mirrored, help_desk):
    target = OrganizationMembership.objects.filter(status=MirrorStatus.ACTIVE).first()
    with pytest.raises(KarmoError) as caught:
        approvals.request_reactivation(actor=help_desk, target=target, reason="why not")
    assert caught.value.code is ErrorCode.STATE_CONFLICT
    assert_audited("request.created", target=target, outcome=Outcome.DENIED)


def test_one_open_request_per_target_is_enforced_by_the_database(pending, help_desk, manager):
    with pytest.raises(KarmoError) as caught:
        approvals.request_reactivation(actor=manager, target=pending.membership, reason="again")
    assert caught.value.code is ErrorCode.OPEN_REQUEST_EXISTS
    assert ReactivationRequest.objects.count() == 1
    event = assert_audited("request.created", target=pending.membership, outcome=Outcome.DENIED)
    assert event.data["open_request"] == pending.pk


def test_manager_approval_executes_through_the_service(
    pending, manager, mirrored, workos_emulator, mailoutbox
):
    mailoutbox.clear()
    cost = cost_of_one_reactivation(mirrored, workos_emulator)
    before = workos_emulator.app.request_count
    request = approvals.approve_request(actor=manager, request=pending)
    assert request.status == RequestStatus.EXECUTED
    assert request.decided_by == manager
    assert request.executed_at is not None
    assert workos_emulator.app.request_count == before + cost
    assert mirrored.get_membership(pending.membership.external_id).status == "active"
    pending.membership.refresh_from_db()
    assert pending.membership.status == MirrorStatus.ACTIVE
    chain = list(
        AuditEvent.objects.filter(correlation_id=pending.correlation_id)
        .order_by("sequence")
        .values_list("event_type", "outcome")
    )
    assert chain == [
        ("request.created", Outcome.REQUESTED),
        ("request.approved", Outcome.SUCCEEDED),
        ("membership.reactivated", Outcome.ATTEMPTED),
        ("membership.reactivated", Outcome.SUCCEEDED),
        ("request.executed", Outcome.SUCCEEDED),
    ]
    outcome = assert_audited("membership.reactivated", outcome=Outcome.SUCCEEDED)
    assert outcome.actor == manager
    assert outcome.data["request"] == pending.pk
    assert "direct" not in outcome.data
    assert [m.to for m in mailoutbox] == [[pending.requested_by.email]]
    assert "carried out" in mailoutbox[0].body


def test_nobody_approves_their_own_request(mirrored, manager, workos_emulator):
    request = approvals.request_reactivation(
        actor=manager, target=inactive_membership(), reason="mine"
    )
    before = workos_emulator.app.request_count
    with pytest.raises(KarmoError) as caught:
        approvals.approve_request(actor=manager, request=request)
    assert caught.value.code is ErrorCode.SELF_APPROVAL
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING
    assert workos_emulator.app.request_count == before
    event = assert_audited("request.approved", target=request, outcome=Outcome.DENIED)
    assert event.error_code == ErrorCode.SELF_APPROVAL.code


def test_a_decided_request_cannot_be_decided_again(pending, manager, other_manager):
    approvals.approve_request(actor=manager, request=pending)
    with pytest.raises(KarmoError) as caught:
        approvals.reject_request(actor=other_manager, request=pending, comment="no")
    assert caught.value.code is ErrorCode.ALREADY_DECIDED
    with pytest.raises(KarmoError) as caught:
        approvals.approve_request(actor=other_manager, request=pending)
    assert caught.value.code is ErrorCode.ALREADY_DECIDED
    assert_audited("membership.reactivated", outcome=Outcome.ATTEMPTED, count=1)


def test_expired_request_is_refused_and_never_executed(pending, manager, workos_emulator):
    ReactivationRequest.objects.filter(pk=pending.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    before = workos_emulator.app.request_count
    with pytest.raises(KarmoError) as caught:
        approvals.approve_request(actor=manager, request=pending)
    assert caught.value.code is ErrorCode.REQUEST_EXPIRED
    assert workos_emulator.app.request_count == before
    pending.refresh_from_db()
    assert pending.status == RequestStatus.EXPIRED
    assert approvals.expire_requests() == 0
    assert_audited("request.expired", target=pending, outcome=Outcome.SUCCEEDED)
    assert not AuditEvent.objects.filter(event_type="membership.reactivated").exists()


def test_reject_needs_a_comment_and_tells_the_requester(pending, manager, mailoutbox):
    with pytest.raises(KarmoError) as caught:
        approvals.reject_request(actor=manager, request=pending, comment=" ")
    assert caught.value.code is ErrorCode.COMMENT_REQUIRED
    mailoutbox.clear()
    request = approvals.reject_request(actor=manager, request=pending, comment="No contract")
    assert (request.status, request.decision_comment) == (RequestStatus.REJECTED, "No contract")
    assert_audited("request.rejected", target=request, outcome=Outcome.SUCCEEDED)
    assert mailoutbox[0].to == [pending.requested_by.email]
    assert "No contract" in mailoutbox[0].body


def test_only_the_requester_cancels(pending, help_desk, manager):
    with pytest.raises(KarmoError) as caught:
        approvals.cancel_request(actor=manager, request=pending)
    assert caught.value.code is ErrorCode.PERMISSION_DENIED
    request = approvals.cancel_request(actor=help_desk, request=pending)
    assert request.status == RequestStatus.CANCELLED
    assert_audited("request.cancelled", target=request, outcome=Outcome.SUCCEEDED)
    with pytest.raises(KarmoError) as caught:
        approvals.cancel_request(actor=help_desk, request=pending)
    assert caught.value.code is ErrorCode.ALREADY_DECIDED
    again = approvals.request_reactivation(
        actor=help_desk, target=pending.membership, reason="second try"
    )
    assert again.status == RequestStatus.PENDING


def test_failed_execution_is_recorded_and_a_manager_retries_it(
    pending, manager, other_manager, mirrored, workos_emulator, mailoutbox
):
    workos_emulator.app.faults.configure({"fail": [503]})
    request = approvals.approve_request(actor=manager, request=pending)
    assert request.status == RequestStatus.FAILED
    assert request.error_code == ErrorCode.PROVIDER_UNAVAILABLE.code
    assert request.error_message
    pending.membership.refresh_from_db()
    assert pending.membership.status == MirrorStatus.INACTIVE
    assert_audited("request.failed", target=request, outcome=Outcome.FAILED)
    assert "retry" in mailoutbox[-1].body

    retried = approvals.retry_request(actor=other_manager, request=request)
    assert retried.status == RequestStatus.EXECUTED
    assert retried.error_code == ""
    assert ReactivationRequest.objects.count() == 1
    assert mirrored.get_membership(pending.membership.external_id).status == "active"
    attempts = AuditEvent.objects.filter(
        correlation_id=pending.correlation_id, outcome=Outcome.ATTEMPTED
    )
    assert attempts.count() == 2


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ({"fail": [400]}, ErrorCode.PROVIDER_REJECTED),
        ({"fail": [401]}, ErrorCode.PROVIDER_AUTH_FAILED),
        ({"fail": [404]}, ErrorCode.PROVIDER_NOT_FOUND),
        ({"fail": [409]}, ErrorCode.PROVIDER_CONFLICT),
        ({"fail": [429]}, ErrorCode.PROVIDER_RATE_LIMITED),
        ({"drop": 1}, ErrorCode.PROVIDER_UNAVAILABLE),
    ],
)
def test_every_provider_error_ends_the_request_failed_with_its_code(
    pending, manager, workos_emulator, fault, code
):
    workos_emulator.app.faults.configure(fault)
    request = approvals.approve_request(actor=manager, request=pending)
    assert (request.status, request.error_code) == (RequestStatus.FAILED, code.code)
    pending.membership.refresh_from_db()
    assert pending.membership.status == MirrorStatus.INACTIVE
    failed = assert_audited("membership.reactivated", outcome=Outcome.FAILED)
    assert failed.error_code == code.code
    assert assert_audited("request.failed", target=request).error_code == code.code


def test_only_a_failed_request_can_be_retried(pending, manager):
    with pytest.raises(KarmoError) as caught:
        approvals.retry_request(actor=manager, request=pending)
    assert caught.value.code is ErrorCode.STATE_CONFLICT


def test_expiry_sweep_by_task_and_command_closes_only_overdue_requests(mirrored, help_desk):
    overdue, fresh = memberships_in(MirrorStatus.INACTIVE)[:2]
    old = approvals.request_reactivation(actor=help_desk, target=overdue, reason="old")
    new = approvals.request_reactivation(actor=help_desk, target=fresh, reason="new")
    ReactivationRequest.objects.filter(pk=old.pk).update(
        expires_at=timezone.now() - timedelta(hours=1)
    )
    assert approvals.expire_requests_task.call() == 1
    old.refresh_from_db()
    new.refresh_from_db()
    assert (old.status, new.status) == (RequestStatus.EXPIRED, RequestStatus.PENDING)
    assert assert_audited("request.expired", target=old).via == "task"
    ReactivationRequest.objects.filter(pk=new.pk).update(expires_at=timezone.now())
    out = io.StringIO()
    call_command("expire_requests", stdout=out)
    assert "1 request" in out.getvalue()
    new.refresh_from_db()
    assert new.status == RequestStatus.EXPIRED


ACTIONS = ["request", "approve", "reject", "retry"]
ALLOWED = {
    "request": {"help_desk", "manager", "superuser"},
    "approve": {"manager", "superuser"},
    "reject": {"manager", "superuser"},
    "retry": {"manager", "superuser"},
}


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["anonymous", "help_desk", "manager", "auditor", "superuser"])
@pytest.mark.parametrize("action", ACTIONS)
def test_permission_matrix(request, role, action, other_manager):
    if role == "anonymous":
        actor = AnonymousUser()
    elif role == "superuser":
        actor = User.objects.create_superuser("root", "root@karmo.example")
    else:
        actor = request.getfixturevalue(role)
    target = MembershipFactory(inactive=True)
    existing = ReactivationRequest.objects.create(
        target_type="membership",
        membership=MembershipFactory(inactive=True),
        requested_by=other_manager,
        reason="r",
        expires_at=timezone.now() - timedelta(hours=1),
        status=RequestStatus.PENDING,
    )
    calls = {
        "request": lambda: approvals.request_reactivation(actor=actor, target=target, reason="r"),
        "approve": lambda: approvals.approve_request(actor=actor, request=existing),
        "reject": lambda: approvals.reject_request(actor=actor, request=existing, comment="c"),
        "retry": lambda: approvals.retry_request(actor=actor, request=existing),
    }
    try:
        calls[action]()
    except KarmoError as error:
        code = error.code
    else:
        code = None
    if role in ALLOWED[action]:
        assert code is not ErrorCode.PERMISSION_DENIED
    else:
        assert code is ErrorCode.PERMISSION_DENIED
        event = AuditEvent.objects.get(outcome=Outcome.DENIED)
        assert event.error_code == code.code


@pytest.mark.skipif(not ON_POSTGRES, reason="row locks and concurrent writers need PostgreSQL")
def test_two_managers_approving_at_once_make_exactly_one_provider_call(
    pending, manager, other_manager, mirrored, workos_emulator
):
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}
    cost = cost_of_one_reactivation(mirrored, workos_emulator)
    before = workos_emulator.app.request_count

    def approve(actor: User) -> None:
        request = ReactivationRequest.objects.get(pk=pending.pk)
        barrier.wait(timeout=10)
        try:
            outcomes[actor.username] = approvals.approve_request(actor=actor, request=request)
        except KarmoError as error:
            outcomes[actor.username] = error.code
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(a,)) for a in (manager, other_manager)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert workos_emulator.app.request_count == before + cost
    results = sorted(str(getattr(v, "status", v)) for v in outcomes.values())
    assert results == ["ErrorCode.ALREADY_DECIDED", "executed"]
    assert_audited("membership.reactivated", outcome=Outcome.ATTEMPTED, count=1)
    assert_audited("request.approved", outcome=Outcome.DENIED, count=1)
    pending.refresh_from_db()
    assert pending.status == RequestStatus.EXECUTED


@pytest.mark.parametrize("model", [ProviderUser, Organization])
def test_user_and_organization_requests_execute_on_zitadel(
    zitadel_mirrored, help_desk, manager, model
):
    target = model.objects.filter(status=MirrorStatus.INACTIVE).order_by("external_id").first()
    pending = approvals.request_reactivation(actor=help_desk, target=target, reason="ticket 9")
    assert pending.target_type == ("user" if model is ProviderUser else "organization")
    request = approvals.approve_request(actor=manager, request=pending)
    assert request.status == RequestStatus.EXECUTED
    target.refresh_from_db()
    assert target.status == MirrorStatus.ACTIVE
    read = zitadel_mirrored.get_user if model is ProviderUser else zitadel_mirrored.get_organization
    assert read(target.external_id).status == "active"
    noun = "user.activated" if model is ProviderUser else "organization.reactivated"
    outcome = assert_audited(noun, target=target, outcome=Outcome.SUCCEEDED)
    assert outcome.correlation_id == pending.correlation_id

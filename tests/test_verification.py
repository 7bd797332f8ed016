"""Verification after every change: one read-back GET; a provider that says yes, does nothing."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.db.models import Q
from django.urls import reverse

from accounts import services
from accounts.errors import ErrorCode, KarmoError
from accounts.models import (
    AuditEvent,
    MirrorStatus,
    OrganizationRole,
    Outcome,
)
from accounts.services import mirroring
from tests.fixtures.app_provider import inactive_membership, membership_in
from tests.fixtures.audit import assert_audited

pytestmark = pytest.mark.django_db(transaction=True)

MEMBERSHIPS = "/user_management/organization_memberships"


def lie_once(emulator) -> None:
    """The next write the emulator receives answers 200 and is undone."""
    emulator.app.faults.configure({"ignore_writes": 1})


def test_ignore_writes_switch_answers_200_and_changes_nothing(workos_emulator, workos_provider):
    membership = next(m for m in workos_provider.list_memberships() if m.status == "inactive")
    lie_once(workos_emulator)
    answer = workos_provider.reactivate_membership(membership)
    assert answer.value.status == "active"
    assert workos_provider.get_membership(membership.id).status == "inactive"
    assert workos_emulator.app.faults.ignore_writes == 0
    # Consumed: the next write lands.
    workos_provider.reactivate_membership(membership)
    assert workos_provider.get_membership(membership.id).status == "active"


def test_a_confirmed_change_costs_one_read_back_and_records_no_failure(
    mirrored, manager, workos_emulator
):
    target = inactive_membership()
    workos_emulator.app.request_log.clear()
    change = services.reactivate_membership(actor=manager, membership=target)
    assert not change.verification_failed
    assert list(workos_emulator.app.request_log) == [
        f"GET {MEMBERSHIPS}/{target.external_id}",
        f"PUT {MEMBERSHIPS}/{target.external_id}/reactivate",
        f"GET {MEMBERSHIPS}/{target.external_id}",
    ]
    assert not AuditEvent.objects.filter(event_type="verification.failed").exists()


def test_a_change_the_provider_does_not_show_is_recorded_and_the_mirror_follows_the_provider(
    mirrored, manager, workos_emulator
):
    target = inactive_membership()
    lie_once(workos_emulator)
    change = services.reactivate_membership(actor=manager, membership=target, reason="back")
    assert change.verification_failed
    assert change.target.status == MirrorStatus.INACTIVE
    target.refresh_from_db()
    assert target.status == MirrorStatus.INACTIVE
    failure = assert_audited("verification.failed", target=target, outcome=Outcome.FAILED)
    outcome = assert_audited("membership.reactivated", target=target, outcome=Outcome.SUCCEEDED)
    assert failure.correlation_id == outcome.correlation_id == change.correlation_id
    assert failure.error_code == ErrorCode.VERIFICATION_FAILED.code
    assert failure.before == {"status": "active"}
    assert failure.after == {"status": "inactive"}
    assert failure.data["change"] == "membership.reactivated"
    assert failure.actor == manager
    assert list(services.unresolved_failures()) == [failure]


def test_role_changes_are_read_back_too(mirrored, manager, workos_emulator):
    target = membership_in(MirrorStatus.ACTIVE)
    held = mirroring.membership_state(target)["roles"]
    available = OrganizationRole.objects.present().filter(
        Q(organization=target.organization) | Q(organization__isnull=True)
    )
    wanted = [available.exclude(slug__in=held).values_list("slug", flat=True).first()]
    lie_once(workos_emulator)
    change = services.set_membership_roles(actor=manager, membership=target, roles=wanted)
    assert change.verification_failed
    failure = assert_audited("verification.failed", target=target)
    assert failure.before == {"roles": wanted}
    assert failure.after == {"roles": held}


def test_verification_can_be_turned_off(mirrored, manager, workos_emulator, settings):
    settings.KARMO_VERIFY_AFTER_CHANGE = False
    target = inactive_membership()
    lie_once(workos_emulator)
    workos_emulator.app.request_log.clear()
    change = services.reactivate_membership(actor=manager, membership=target)
    assert not change.verification_failed
    assert len(workos_emulator.app.request_log) == 2
    assert not AuditEvent.objects.filter(event_type="verification.failed").exists()


def test_console_shows_counts_and_resolves_a_failure(client, mirrored, manager, workos_emulator):
    target = inactive_membership()
    client.force_login(manager)
    lie_once(workos_emulator)
    response = client.post(
        reverse("console:membership-reactivate", args=[target.pk]),
        {"reason": "customer asked"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == HTTPStatus.OK
    assert "reading it back does not show it" in response.content.decode()
    home = client.get(reverse("console:home")).content.decode()
    assert "1 change the provider accepted but does not show" in home
    failure = AuditEvent.objects.get(event_type="verification.failed")
    listing = client.get(reverse("console:verification")).content.decode()
    assert f'id="failure-{failure.sequence}"' in listing
    assert "1 unresolved" in listing
    url = reverse("console:verification-resolve", args=[failure.sequence])
    empty = client.post(url, {"reason": " "}, headers={"HX-Request": "true"})
    assert empty.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert client.post(url, {"reason": "Reactivated by hand in WorkOS"}).status_code == 302
    resolved = assert_audited("verification.resolved", outcome=Outcome.SUCCEEDED)
    assert resolved.correlation_id == failure.correlation_id
    assert resolved.data["failure"] == failure.sequence
    assert resolved.reason == "Reactivated by hand in WorkOS"
    assert not services.unresolved_failures().exists()
    assert (
        "change the provider accepted" not in client.get(reverse("console:home")).content.decode()
    )
    with pytest.raises(KarmoError) as caught:
        services.resolve_verification_failure(actor=manager, failure=failure, note="again")
    assert caught.value.code is ErrorCode.STATE_CONFLICT
    assert_audited("verification.resolved", outcome=Outcome.DENIED)
    assert services.unresolved_failures().count() == 0


def test_help_desk_cannot_see_or_resolve_failures(
    client, mirrored, help_desk, manager, workos_emulator
):
    lie_once(workos_emulator)
    services.reactivate_membership(actor=manager, membership=inactive_membership())
    failure = AuditEvent.objects.get(event_type="verification.failed")
    client.force_login(help_desk)
    assert client.get(reverse("console:verification")).status_code == HTTPStatus.FORBIDDEN
    url = reverse("console:verification-resolve", args=[failure.sequence])
    assert client.post(url, {"reason": "x"}).status_code == HTTPStatus.FORBIDDEN
    assert_audited("verification.resolved", outcome=Outcome.DENIED)
    assert services.unresolved_failures().count() == 1

"""Bulk work: several requests decided, several reactivations asked, each item on its own."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from accounts import approvals
from accounts.models import (
    AuditEvent,
    MirrorStatus,
    OrganizationMembership,
    Outcome,
    ReactivationRequest,
    RequestStatus,
)
from tests.fixtures.app_provider import memberships_in, person_inactive_in_several_organizations

pytestmark = pytest.mark.django_db(transaction=True)


def inactive(count: int) -> list[OrganizationMembership]:
    return list(memberships_in(MirrorStatus.INACTIVE)[:count])


def said(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_manager_rejects_several_with_one_comment_but_never_their_own(
    client, mirrored, help_desk, manager
):
    first, second, third = inactive(3)
    theirs = [
        approvals.request_reactivation(actor=help_desk, target=m, reason="Renewed")
        for m in (first, second)
    ]
    own = approvals.request_reactivation(actor=manager, target=third, reason="Mine")
    client.force_login(manager)
    page = client.get(reverse("console:approvals")).content.decode()
    assert f'name="ids" value="{theirs[0].pk}"' in page
    assert f'name="ids" value="{own.pk}"' not in page  # own requests are not offered

    ids = [theirs[0].pk, theirs[1].pk, own.pk, 999999]
    response = client.post(
        reverse("console:approvals-bulk"),
        {"decision": "reject", "ids": ids, "comment": "Contract not renewed"},
        follow=True,
    )
    lines = said(response)
    assert lines[0] == "2 of 4 rejected."
    assert (
        lines[1]
        == f"Request #{theirs[0].pk} ({first.user.email} in {first.organization.name}): rejected"
    )
    assert lines[3].endswith("Nobody may decide their own request. (40306001)")
    assert lines[4] == "#999999: No such reactivation request."
    statuses = dict(ReactivationRequest.objects.values_list("pk", "status"))
    assert statuses == {
        theirs[0].pk: RequestStatus.REJECTED,
        theirs[1].pk: RequestStatus.REJECTED,
        own.pk: RequestStatus.PENDING,
    }
    rejected = AuditEvent.objects.filter(event_type="request.rejected")
    assert rejected.filter(outcome=Outcome.SUCCEEDED).count() == 2
    assert rejected.filter(outcome=Outcome.DENIED, error_code="40306001").count() == 1
    assert set(rejected.filter(outcome=Outcome.SUCCEEDED).values_list("reason", flat=True)) == {
        "Contract not renewed"
    }


def test_reject_without_a_comment_does_nothing_and_says_why(client, mirrored, help_desk, manager):
    (membership,) = inactive(1)
    request = approvals.request_reactivation(actor=help_desk, target=membership, reason="R")
    client.force_login(manager)
    response = client.post(
        reverse("console:approvals-bulk"), {"decision": "reject", "ids": [request.pk]}, follow=True
    )
    assert said(response) == [
        "Nothing was done: A comment is required to reject a request. (42206002)"
    ]
    assert ReactivationRequest.objects.get().status == RequestStatus.PENDING


def test_help_desk_cannot_bulk_decide_and_the_attempt_is_audited(client, mirrored, help_desk):
    (membership,) = inactive(1)
    request = approvals.request_reactivation(actor=help_desk, target=membership, reason="R")
    client.force_login(help_desk)
    response = client.post(
        reverse("console:approvals-bulk"), {"decision": "approve", "ids": [request.pk]}
    )
    assert response.status_code == 403
    assert AuditEvent.objects.filter(event_type="request.approved", outcome=Outcome.DENIED).exists()
    assert ReactivationRequest.objects.get().status == RequestStatus.PENDING


def test_one_person_reactivation_requested_in_several_organizations(client, mirrored, help_desk):
    person = person_inactive_in_several_organizations()
    assert person, "the sandbox seed has someone inactive in two organizations"
    memberships = list(
        OrganizationMembership.objects.filter(user=person, status=MirrorStatus.INACTIVE)
        .select_related("organization")
        .order_by("organization__name")
    )
    active = (
        OrganizationMembership.objects.filter(user=person)
        .exclude(status=MirrorStatus.INACTIVE)
        .first()
    )
    client.force_login(help_desk)
    page = client.get(reverse("console:person", args=[person])).content.decode()
    assert "Request reactivation in several organizations" in page
    ids = [m.pk for m in memberships] + ([active.pk] if active else [])
    response = client.post(
        reverse("console:person-bulk-request", args=[person]),
        {"ids": ids, "reason": "Back from parental leave"},
        follow=True,
    )
    lines = said(response)
    assert lines[0] == f"{len(memberships)} of {len(ids)} requested."
    assert ReactivationRequest.objects.filter(reason="Back from parental leave").count() == len(
        memberships
    )
    assert AuditEvent.objects.filter(
        event_type="request.created", outcome=Outcome.REQUESTED
    ).count() == len(memberships)
    # Asking again: each item refused on its own (an open request exists), audited.
    again = client.post(
        reverse("console:person-bulk-request", args=[person]),
        {"ids": [memberships[0].pk], "reason": "Again"},
        follow=True,
    )
    assert said(again)[1].endswith("(40906002)")

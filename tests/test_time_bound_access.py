"""Time-bound reactivation end to end on the WorkOS emulator, with a controlled clock:
granted through a request, shown on the person page, reminded, extended, ended by the task."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from accounts import time_limits
from accounts.models import (
    AccessState,
    AuditEvent,
    MirrorStatus,
    OrganizationMembership,
    Outcome,
    ReactivationRequest,
    RequestStatus,
    TimedAccess,
)
from tests.fixtures.app_provider import inactive_membership
from tests.fixtures.audit import assert_audited
from tests.test_api.conftest import ApiClient, assert_envelope, make_token

pytestmark = pytest.mark.django_db(transaction=True)

HX = {"HX-Request": "true"}


def path_of(membership: OrganizationMembership) -> str:
    return f"/orgs/{membership.organization.external_id}/users/{membership.user.external_id}"


def run_worker() -> None:
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", "--verbosity", "0")


def reminders_to(outbox, address: str) -> list[str]:
    return [m.subject for m in outbox if address in m.to and "Access ends" in m.subject]


def test_requested_for_two_days_extended_then_ended_by_the_task(
    mirrored, help_desk, manager, client, workos_emulator, mailoutbox
):
    target = inactive_membership()
    asker, approver = ApiClient(make_token(help_desk)), ApiClient(make_token(manager))
    start = timezone.now()
    with time_machine.travel(start, tick=True) as clock:
        # Granted: help desk asks for two days, a manager approves; the clock starts then.
        asked = asker.post(
            "/reactivation-requests",
            {
                "targetType": "membership",
                "orgId": target.organization.external_id,
                "userId": target.user.external_id,
                "reason": "Quarter-end audit access",
                "duration": "P2D",
            },
        )
        assert asked.status_code == 201, asked.content
        assert asked.json()["duration"] == "P2D"
        request_id = asked.json()["id"]
        clock.shift(timedelta(hours=3))
        approved = approver.post(f"/reactivation-requests/{request_id}/approve")
        assert approved.status_code == 200, approved.content
        assert approved.json()["status"] == RequestStatus.EXECUTED
        limit = TimedAccess.objects.get(membership=target, state=AccessState.ACTIVE)
        assert limit.request_id == request_id
        granted_for = limit.until - start - timedelta(hours=3)
        assert timedelta(days=2) <= granted_for < timedelta(days=2, minutes=1)
        shown = approver.get(path_of(target)).json()
        assert shown["status"] == "active"
        assert shown["accessUntil"] == approved.json()["accessUntil"]
        assert shown["accessUntil"].startswith(limit.until.strftime("%Y-%m-%dT%H:%M"))
        assert_audited("access.limited", target=target, outcome=Outcome.SUCCEEDED)

        # Shown: the person page says when it ends, with a countdown.
        client.force_login(manager)
        page = client.get(reverse("console:person", args=[target.user_id]))
        html = page.content.decode()
        assert "Time-bound access: ends in" in html
        assert f'datetime="{limit.until.isoformat()}"' in html
        assert "1\xa0day, 23\xa0hours" in html
        assert reverse("console:membership-extend", args=[target.pk]) in html

        # A day before: the requester is told once, however often the task runs.
        clock.shift(timedelta(days=1, hours=1))
        time_limits.time_limits_task.enqueue()
        run_worker()
        run_worker()
        assert reminders_to(mailoutbox, help_desk.email) == [
            f"[Karmo] Access ends within a day: {target.user.email}"
        ]

        # Extended in the console by a manager, by three days from now: reminders start over.
        client.force_login(manager)
        extended = client.post(
            reverse("console:membership-extend", args=[target.pk]),
            {"until": "3d", "reason": "Audit runs late"},
            headers=HX,
        )
        assert extended.status_code == 200, extended.content
        assert "Access extended." in extended.content.decode()
        limit.refresh_from_db()
        new_end = limit.until
        assert (
            timedelta(days=3) - timedelta(minutes=1) < new_end - timezone.now() <= timedelta(days=3)
        )
        event = assert_audited("access.extended", target=target, outcome=Outcome.SUCCEEDED)
        assert event.data["request"] == request_id
        assert event.after["until"] == new_end.isoformat()
        # The old end passes without the membership being touched.
        clock.shift(timedelta(days=1))
        run_worker()
        target.refresh_from_db()
        assert target.status == MirrorStatus.ACTIVE

        # An hour before the new end: one reminder (the day one is moot by then).
        clock.move_to(new_end - timedelta(minutes=50))
        run_worker()
        assert reminders_to(mailoutbox, help_desk.email) == [
            f"[Karmo] Access ends within a day: {target.user.email}",
            f"[Karmo] Access ends within an hour: {target.user.email}",
        ]

        # Expired by the task: deactivated at the provider through the service, as the system.
        clock.move_to(new_end + timedelta(minutes=6))
        workos_emulator.app.request_log.clear()
        run_worker()
        target.refresh_from_db()
        assert target.status == MirrorStatus.INACTIVE
        assert str(mirrored.get_membership(target.external_id).status) == "inactive"
        assert any("/deactivate" in line for line in map(str, workos_emulator.app.request_log))
        deactivated = assert_audited(
            "membership.deactivated", target=target, outcome=Outcome.SUCCEEDED
        )
        assert deactivated.actor is None
        assert deactivated.via == "task"
        assert deactivated.data["request"] == request_id
        assert deactivated.data["time_limit"] == limit.pk
        assert deactivated.correlation_id == limit.correlation_id
        limit.refresh_from_db()
        assert limit.state == AccessState.EXPIRED
        assert_audited("access.expired", target=target, outcome=Outcome.SUCCEEDED)
        assert approver.get(f"/reactivation-requests/{request_id}").json()["accessUntil"] is None
        assert len(reminders_to(mailoutbox, help_desk.email)) == 2


def test_direct_reactivation_until_a_moment_then_ended_early(mirrored, manager):
    target = inactive_membership()
    api = ApiClient(make_token(manager))
    until = (timezone.now() + timedelta(hours=8)).replace(microsecond=0)
    answer = api.post(f"{path_of(target)}/reactivate?{urlencode({'until': until.isoformat()})}")
    assert answer.status_code == 200, answer.content
    assert answer.json()["accessUntil"].startswith(until.strftime("%Y-%m-%dT%H:%M:%S"))
    ended = api.post(f"{path_of(target)}/access/end", {"reason": "Work done"})
    assert ended.status_code == 200, ended.content
    assert ended.json()["status"] == "inactive"
    assert "accessUntil" not in ended.json()
    limit = TimedAccess.objects.get(membership=target)
    assert (limit.state, limit.ended_by) == (AccessState.ENDED, manager)
    event = assert_audited("access.ended", target=target, outcome=Outcome.SUCCEEDED)
    assert event.reason == "Work done"


@pytest.mark.parametrize(
    ("body", "code", "pointer"),
    [
        ({"duration": "P31D"}, "42205002", "/until"),
        ({"until": "2020-01-01T00:00:00Z"}, "42205001", "/until"),
        ({"until": "2099-01-01T00:00:00Z", "duration": "P1D"}, "42205001", "/duration"),
        ({"duration": "P0D"}, "42205001", "/until"),
    ],
)
def test_an_invalid_end_of_access_is_a_clear_422_and_audited(
    mirrored, manager, body, code, pointer
):
    target = inactive_membership()
    api = ApiClient(make_token(manager))
    events = AuditEvent.objects.count()
    answer = api.post(f"{path_of(target)}/reactivate?{urlencode(body)}")
    envelope = assert_envelope(answer, 422, code)
    assert envelope["errors"][0]["pointer"] == pointer
    target.refresh_from_db()
    assert target.status == MirrorStatus.INACTIVE
    if "duration" not in body or "until" not in body:
        denied = assert_audited("membership.reactivated", target=target, outcome=Outcome.DENIED)
        assert denied.error_code == code
    else:
        assert AuditEvent.objects.count() == events


def test_a_request_for_a_user_cannot_be_time_bound(mirrored, help_desk):
    user = OrganizationMembership.objects.first().user
    api = ApiClient(make_token(help_desk))
    answer = api.post(
        "/reactivation-requests",
        {"targetType": "user", "userId": user.external_id, "reason": "x", "duration": "PT8H"},
    )
    assert_envelope(answer, 422, "42205003")
    assert not ReactivationRequest.objects.exists()


def test_console_form_says_what_is_wrong_with_until(mirrored, manager, client):
    target = inactive_membership()
    client.force_login(manager)
    answer = client.post(
        reverse("console:membership-reactivate", args=[target.pk]),
        {"until": "next tuesday"},
        headers=HX,
    )
    assert answer.status_code == 422
    assert "is not a date-time or duration" in answer.content.decode()
    target.refresh_from_db()
    assert target.status == MirrorStatus.INACTIVE


def test_extending_without_a_running_limit_is_a_conflict(mirrored, manager):
    target = inactive_membership()
    api = ApiClient(make_token(manager))
    answer = api.post(f"{path_of(target)}/access/extend", {"duration": "P1D"})
    assert_envelope(answer, 409, "40905004")
    assert_audited("access.extended", target=target, outcome=Outcome.DENIED)

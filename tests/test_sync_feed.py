"""Incremental sync from WorkOS's Events API, over loopback to the emulator."""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import (
    AppliedEvent,
    AuditEvent,
    FeedState,
    OrganizationMembership,
    ProviderUser,
    SyncRun,
)
from accounts.sync import run_sync
from accounts.sync.feed import (
    RECONCILIATION,
    poll_feed_task,
    reconcile_mirror_task,
    run_incremental,
    schedule_feed_poll,
    schedule_reconciliation,
)
from accounts.sync.once import KEPT_FOR, forget_old
from providers.base import Membership, Status
from providers.registry import get_provider

pytestmark = pytest.mark.django_db


def synced_events() -> list[AuditEvent]:
    events = AuditEvent.objects.filter(via="sync", event_type__contains=".sync_")
    return list(events.order_by("pk"))


@pytest.fixture
def synced(app_provider):
    run = run_sync(provider=app_provider)
    assert run.state == SyncRun.State.SUCCEEDED, run.errors
    return app_provider


def an_active_membership(provider) -> Membership:
    return next(m for m in provider.list_memberships() if m.status == Status.ACTIVE)


def test_the_first_incremental_is_a_full_sync_that_says_why(app_provider):
    run = run_incremental(provider=app_provider)
    assert run.mode == SyncRun.Mode.FULL
    assert run.reason == "no feed cursor yet: the first sync reads everything"
    state = FeedState.objects.get(provider="workos")
    assert state.ready
    assert state.last_full_at is not None


def test_nothing_changed_costs_one_request_and_no_run(synced, workos_emulator):
    workos_emulator.app.realism.reset_stats()
    runs = SyncRun.objects.count()
    assert run_incremental(provider=synced, record_empty=False) is None
    assert workos_emulator.app.realism.stats()["answered"] == 1
    assert SyncRun.objects.count() == runs
    assert FeedState.objects.get(provider="workos").last_polled_at is not None


def test_a_change_at_the_provider_is_applied_once_and_audited_once(synced):
    membership = an_active_membership(synced)
    synced.deactivate_membership(membership)
    before = len(synced_events())

    run = run_incremental(provider=synced)

    assert (run.mode, run.state, run.updated, run.requests) == ("incremental", "succeeded", 1, 1)
    row = OrganizationMembership.objects.get(external_id=membership.id)
    assert row.status == Status.INACTIVE
    new = synced_events()[before:]
    assert [(e.event_type, e.target_id) for e in new] == [
        ("membership.sync_updated", membership.id)
    ]
    assert new[0].before == {"status": "active", "raw_status": "active"}


def test_events_applied_twice_change_nothing(synced):
    start = FeedState.objects.get(provider="workos").cursor
    membership = an_active_membership(synced)
    synced.deactivate_membership(membership)
    synced.set_membership_roles(membership, ("admin",))
    run_incremental(provider=synced)
    after_first = len(synced_events())

    FeedState.objects.filter(provider="workos").update(cursor=start)  # replay the same page
    replay = run_incremental(provider=synced)
    assert (replay.updated, replay.seen) == (0, 0)  # both events known by their ids

    AppliedEvent.objects.all().delete()  # forgotten (after KEPT_FOR): the mirror decides
    FeedState.objects.filter(provider="workos").update(cursor=start)
    forgotten = run_incremental(provider=synced)

    assert forgotten.updated == 0
    assert forgotten.unchanged == 1  # two events of one membership: the last one wins
    assert len(synced_events()) == after_first


def test_a_deleted_membership_and_an_updated_user_arrive_by_the_feed(synced, workos_emulator):
    membership = an_active_membership(synced)
    synced.http.request("DELETE", f"/user_management/organization_memberships/{membership.id}")
    synced.http.request(
        "PUT", f"/user_management/users/{membership.user_id}", json={"first_name": "Renamed"}
    )
    run = run_incremental(provider=synced)
    assert (run.removed, run.updated) == (1, 1)
    assert OrganizationMembership.objects.get(external_id=membership.id).removed_at is not None
    assert ProviderUser.objects.get(external_id=membership.user_id).first_name == "Renamed"


def test_an_expired_cursor_falls_back_to_a_full_sync(synced, workos_emulator):
    synced.deactivate_membership(an_active_membership(synced))
    run_incremental(provider=synced)  # the cursor now names that event
    workos_emulator.app.expire_events()  # and the provider forgets it

    run = run_incremental(provider=synced)

    assert run.mode == SyncRun.Mode.FULL
    assert run.state == SyncRun.State.SUCCEEDED
    assert run.reason.startswith("feed cursor expired")
    assert FeedState.objects.get(provider="workos").last_fallback_reason == run.reason
    finished = AuditEvent.objects.get(event_type="sync.finished", target_id=str(run.pk))
    assert finished.data["mode"] == "full"


def test_sync_provider_incremental_says_which_mode_ran(synced):
    synced.deactivate_membership(an_active_membership(synced))
    out = StringIO()
    call_command("sync_provider", "--incremental", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[-2] == "mode: incremental"
    assert re.fullmatch(
        r"sync: created=0 updated=1 removed=0 unchanged=0 requests=1 seconds=[\d.]+", lines[-1]
    )


def test_the_poll_task_books_its_next_run_and_applies_changes(synced, settings):
    settings.KARMO_FEED_POLL_SECONDS = 30
    synced.deactivate_membership(an_active_membership(synced))
    result = poll_feed_task.call()
    run = SyncRun.objects.get(pk=result["sync_run"])
    assert run.mode == SyncRun.Mode.INCREMENTAL
    booked = schedule_feed_poll()
    assert booked is not None
    assert booked.task.run_after is not None
    assert schedule_feed_poll().id == booked.id  # never two waiting
    settings.KARMO_FEED_POLL_SECONDS = 0
    assert schedule_feed_poll() is None


def test_the_sync_page_shows_mode_requests_freshness_and_drift(synced, client, auditor):
    synced.deactivate_membership(an_active_membership(synced))
    run_incremental(provider=synced)
    OrganizationMembership.objects.filter(status=Status.INACTIVE).update(status=Status.ACTIVE)
    full = run_sync(provider=synced)  # the mirror was tampered with: the full sync finds drift
    assert full.updated > 0
    client.force_login(auditor)

    body = client.get("/sync/").content.decode()

    assert "Mirror freshness" in body
    assert "Feed</dt><dd>following the provider's events" in body
    assert "Last feed poll</dt><dd>" in body
    assert re.search(r"Last change applied</dt><dd>\d+ s ago", body)
    assert f"{full.updated} updated / 0 removed" in body
    assert '<td data-label="Mode">Incremental</td>' in body
    assert '<td data-label="Requests">1</td>' in body


def test_the_sync_page_says_when_the_provider_has_no_feed(settings, tmp_path, client, auditor):
    settings.KARMO_PROVIDER = "sandbox"
    settings.KARMO_SANDBOX_FLAVOR = "stytch"  # webhooks only
    settings.KARMO_SANDBOX_DIR = tmp_path
    settings.KARMO_SANDBOX_URL = ""
    provider = get_provider()
    try:
        run = run_incremental(provider=provider)
    finally:
        provider.close()
    assert run.mode == SyncRun.Mode.FULL
    client.force_login(auditor)

    body = client.get("/sync/").content.decode()

    assert "Mirror freshness" in body
    assert "Feed</dt><dd>none: this provider has no event feed" in body
    assert "Last feed poll" not in body


def test_the_scheduled_reconciliation_records_drift_and_books_the_next(synced, settings):
    settings.KARMO_RECONCILE_HOURS = 24
    OrganizationMembership.objects.filter(
        pk__in=OrganizationMembership.objects.values("pk")[:3]
    ).update(raw_status="tampered")
    result = reconcile_mirror_task.call()
    run = SyncRun.objects.get(pk=result["sync_run"])
    assert (run.mode, run.reason) == (SyncRun.Mode.FULL, RECONCILIATION)
    assert result["drift"]["updated"] == 3
    assert schedule_reconciliation() is not None  # booked by the task, kept
    settings.KARMO_RECONCILE_HOURS = 0
    assert schedule_reconciliation() is None


def test_sync_provider_schedule_books_poll_and_reconciliation(synced):
    out = StringIO()
    call_command("sync_provider", "--incremental", "--schedule", stdout=out)
    assert "feed poll every 30 s" in out.getvalue()
    assert "full reconciliation every 24 h" in out.getvalue()


def test_polls_never_turn_into_a_full_sync_every_interval(synced, settings):
    FeedState.objects.filter(provider="workos").update(ready=False)  # the feed was unreadable
    runs = SyncRun.objects.count()
    assert poll_feed_task.call() == {"skipped": "the last full sync could not read the event feed"}
    assert SyncRun.objects.count() == runs


def test_a_provider_without_a_feed_ends_the_polls(stytch_emulator, stytch_provider, settings):
    from django_tasks_db.models import DBTaskResult

    settings.KARMO_PROVIDER = "stytch"
    settings.STYTCH_BASE_URL = stytch_emulator.url
    settings.STYTCH_PROJECT_ID = stytch_emulator.app.project_id
    settings.STYTCH_SECRET = stytch_emulator.app.secret
    assert poll_feed_task.call() == {"skipped": "this provider has no event feed"}
    assert not DBTaskResult.objects.exists()  # no next poll booked


def test_applied_events_are_forgotten_after_they_can_no_longer_arrive(synced):
    synced.deactivate_membership(an_active_membership(synced))
    run_incremental(provider=synced)
    event = AppliedEvent.objects.get()
    assert event.via == "feed"
    assert forget_old(event.applied_at + KEPT_FOR - timedelta(seconds=1)) == 0
    assert forget_old(event.applied_at + KEPT_FOR + timedelta(seconds=1)) == 1


def test_an_unreadable_event_is_passed_over_and_said_so(synced, workos_emulator):
    emulator = workos_emulator.app
    with emulator.store.transaction():
        malformed = emulator.emit("user.updated", {"id": "user_without_an_email"})
    membership = an_active_membership(synced)
    synced.deactivate_membership(membership)

    run = run_incremental(provider=synced)

    assert run.mode == SyncRun.Mode.INCREMENTAL
    assert run.state == SyncRun.State.SUCCEEDED
    assert run.updated == 1  # the event after it is applied
    assert f"workos event {malformed['id']}: " in run.errors
    assert "(passed over)" in run.errors
    assert FeedState.objects.get(provider="workos").cursor != malformed["id"]
    again = run_incremental(provider=synced)
    assert again.updated == 0
    assert not again.errors  # the cursor moved past it


def test_an_event_with_a_value_of_the_wrong_type_is_passed_over(synced, workos_emulator):
    emulator = workos_emulator.app
    with emulator.store.transaction():
        nulled = emulator.emit("user.updated", {"id": "user_null_email", "email": None})
    synced.deactivate_membership(an_active_membership(synced))

    run = run_incremental(provider=synced)

    assert run.state == SyncRun.State.SUCCEEDED
    assert run.updated == 1
    assert f"workos event {nulled['id']}: " in run.errors
    assert not ProviderUser.objects.filter(external_id="user_null_email").exists()

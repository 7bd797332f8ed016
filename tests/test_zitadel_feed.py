"""Incremental sync from ZITADEL's event search (admin ListEvents), over loopback."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import (
    AppliedEvent,
    AuditEvent,
    FeedState,
    Organization,
    OrganizationMembership,
    OrganizationRole,
    ProviderUser,
    SyncRun,
)
from accounts.sync.feed import poll_feed_task, run_incremental
from providers.base import Status

pytestmark = pytest.mark.django_db


def synced_events() -> list[tuple[str, str]]:
    events = AuditEvent.objects.filter(via="sync", event_type__contains=".sync_")
    events = events.exclude(event_type__endswith=".sync_created")
    return list(events.order_by("pk").values_list("event_type", "target_id"))


@pytest.fixture
def synced(zitadel_app_provider):
    run = run_incremental(provider=zitadel_app_provider)
    assert (run.mode, run.state) == (SyncRun.Mode.FULL, SyncRun.State.SUCCEEDED), run.errors
    assert run.reason == "no feed cursor yet: the first sync reads everything"
    assert FeedState.objects.get(provider="zitadel").ready
    return zitadel_app_provider


def test_nothing_changed_costs_one_request_and_no_run(synced, zitadel_emulator):
    zitadel_emulator.app.realism.reset_stats()
    runs = SyncRun.objects.count()
    assert run_incremental(provider=synced, record_empty=False) is None
    assert zitadel_emulator.app.realism.stats()["answered"] == 1
    assert SyncRun.objects.count() == runs


def test_changes_at_zitadel_are_applied_and_audited_once(synced):
    membership = next(m for m in synced.list_memberships() if m.status == Status.ACTIVE)
    synced.deactivate_membership(membership)
    synced.deactivate_user(membership.user_id)
    synced.deactivate_organization(membership.organization_id)

    run = run_incremental(provider=synced)

    assert (run.mode, run.state, run.updated) == ("incremental", "succeeded", 3), run.errors
    assert sorted(synced_events()) == sorted(
        [
            ("membership.sync_updated", membership.id),
            ("user.sync_updated", membership.user_id),
            ("organization.sync_updated", membership.organization_id),
        ]
    )
    assert OrganizationMembership.objects.get(external_id=membership.id).status == "inactive"
    assert ProviderUser.objects.get(external_id=membership.user_id).status == "inactive"
    assert Organization.objects.get(external_id=membership.organization_id).status == "inactive"
    assert run.requests <= 6  # the event page, then the changed records read back in batches


def test_role_changes_arrive_through_the_project_events(synced):
    membership = next(m for m in synced.list_memberships() if m.status == Status.ACTIVE)
    synced.upsert_organization_role(membership.organization_id, "org-auditor", "Auditor")
    synced.set_membership_roles(membership, ("org-auditor",))

    run = run_incremental(provider=synced)

    assert run.state == "succeeded", run.errors
    role = OrganizationRole.objects.get(external_id=f"{synced._owner()}:org-auditor")
    assert role.name == "Auditor"
    row = OrganizationMembership.objects.get(external_id=membership.id)
    assert list(row.roles.values_list("slug", flat=True)) == ["org-auditor"]


def test_events_applied_twice_change_nothing(synced):
    start = FeedState.objects.get(provider="zitadel").cursor
    membership = next(m for m in synced.list_memberships() if m.status == Status.ACTIVE)
    synced.deactivate_membership(membership)
    synced.reactivate_membership(membership)
    run_incremental(provider=synced)
    after_first = synced_events()

    FeedState.objects.filter(provider="zitadel").update(cursor=start)
    replay = run_incremental(provider=synced)
    AppliedEvent.objects.all().delete()  # forgotten: the mirror's comparison decides
    FeedState.objects.filter(provider="zitadel").update(cursor=start)
    forgotten = run_incremental(provider=synced)

    assert (replay.updated, replay.seen) == (0, 0)
    assert (forgotten.updated, forgotten.unchanged) == (0, 1)
    assert synced_events() == after_first


def test_a_gap_in_the_event_log_falls_back_to_a_full_sync(synced, zitadel_emulator):
    synced.deactivate_user(next(u for u in synced.list_users() if u.status == "active").id)
    run_incremental(provider=synced)  # the cursor now names that event
    zitadel_emulator.app.expire_events()

    run = run_incremental(provider=synced)

    assert (run.mode, run.state) == (SyncRun.Mode.FULL, SyncRun.State.SUCCEEDED)
    assert run.reason.startswith("feed cursor expired: zitadel has no event")
    assert FeedState.objects.get(provider="zitadel").last_fallback_reason == run.reason


def test_an_unreadable_record_or_event_is_passed_over_and_said_so(synced, zitadel_emulator):
    emulator = zitadel_emulator.app
    membership = next(m for m in synced.list_memberships() if m.status == Status.ACTIVE)
    other = next(u for u in synced.list_users() if u.id != membership.user_id)
    emulator.store.put("user", other.id, {**emulator.store.get("user", other.id), "human": "?"})
    emulator.emit("user", other.id, "owner", "user.human.profile.changed", {})
    emulator.emit("user", "user_without_a_date", "owner", "user.human.profile.changed", {})
    last = emulator.store.get_meta("events")  # the key of the event just emitted
    emulator.store.put("event", last, {**emulator.store.get("event", last), "creationDate": None})
    synced.deactivate_membership(membership)

    run = run_incremental(provider=synced)

    assert (run.state, run.updated) == (SyncRun.State.SUCCEEDED, 1), run.errors
    assert f"zitadel event zitadel:user:{other.id}:" in run.errors
    assert "zitadel sent an unreadable object: AttributeError(" in run.errors
    assert "of the page: zitadel sent an unreadable object: TypeError(" in run.errors
    assert run.errors.count("(passed over)") == 2
    assert OrganizationMembership.objects.get(external_id=membership.id).status == "inactive"
    again = run_incremental(provider=synced, record_empty=False)
    assert again is None  # the cursor moved past both


def test_the_poll_task_and_sync_provider_read_zitadel_s_feed(synced, settings):
    settings.KARMO_FEED_POLL_SECONDS = 30
    membership = next(m for m in synced.list_memberships() if m.status == Status.ACTIVE)
    synced.deactivate_membership(membership)
    result = poll_feed_task.call()
    assert SyncRun.objects.get(pk=result["sync_run"]).updated == 1

    synced.reactivate_membership(membership)
    out = StringIO()
    call_command("sync_provider", "--incremental", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[-2] == "mode: incremental"
    # One event page, then the authorization and its user's state read back.
    assert re.fullmatch(
        r"sync: created=0 updated=1 removed=0 unchanged=0 requests=3 seconds=[\d.]+", lines[-1]
    )

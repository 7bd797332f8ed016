"""Full sync against the WorkOS emulator over loopback HTTP."""

from __future__ import annotations

import re
import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.audit import (
    HASHED_FIELDS,
    EventSpec,
    describe_target,
    record_described,
    record_events,
    verify_chain,
)
from accounts.context import audit_context
from accounts.errors import ErrorCode, KarmoError
from accounts.models import (
    AuditEvent,
    MembershipRole,
    MirrorStatus,
    Organization,
    OrganizationMembership,
    OrganizationRole,
    Outcome,
    ProviderUser,
    SyncRun,
)
from accounts.sync import PkSet, Syncer, start_sync, store, sync_provider_task
from accounts.sync import run_sync as _run_sync
from accounts.sync.kinds import USERS
from providers.base import User
from providers.emulators.seed import demo_dataset
from providers.workos import WorkOSProvider
from tests.factories import OrganizationFactory
from tests.fixtures.flavors import FAST_RETRY, TEST_TIMEOUT

pytestmark = pytest.mark.django_db

MIRROR_TABLES = (
    "accounts_organization",
    "accounts_provideruser",
    "accounts_organizationmembership",
    "accounts_membershiprole",
    "accounts_organizationrole",
)
WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)


def run_sync(provider, **kwargs) -> SyncRun:
    return _run_sync(provider=provider, batch_size=kwargs.pop("batch_size", 25), **kwargs)


def mirror_writes(queries) -> list[str]:
    return [
        q["sql"]
        for q in queries
        if WRITE.match(q["sql"]) and any(f'"{table}"' in q["sql"] for table in MIRROR_TABLES)
    ]


def record_events_of(run: SyncRun) -> list[AuditEvent]:
    return [e for e in AuditEvent.objects.filter(via="sync") if e.data.get("sync_run") == run.pk]


def test_first_sync_mirrors_the_whole_dataset(workos_provider):
    data = demo_dataset()
    progress: list[tuple[str, int]] = []

    run = run_sync(workos_provider, progress=lambda r: progress.append((r.phase, r.seen)))

    assert run.state == SyncRun.State.SUCCEEDED, run.errors
    assert Organization.objects.count() == len(data.organizations)
    assert ProviderUser.objects.count() == len(data.people)
    assert OrganizationMembership.objects.count() == len(data.memberships)
    assert OrganizationRole.objects.count() == len(data.roles)
    assert MembershipRole.objects.count() == sum(len(m.roles) for m in data.memberships)
    total = len(data.organizations) + len(data.people) + len(data.memberships) + len(data.roles)
    assert (run.created, run.updated, run.removed, run.unchanged) == (total, 0, 0, 0)
    assert run.seen == total
    statuses = set(OrganizationMembership.objects.values_list("status", flat=True))
    assert statuses == set(MirrorStatus.values)
    assert [phase for phase, _ in progress][:1] == ["organizations"]
    assert {"users", "memberships", "roles"} <= {phase for phase, _ in progress}
    assert progress[-1][1] == total
    assert len(record_events_of(run)) == total
    types = list(
        AuditEvent.objects.filter(event_type__startswith="sync.").values_list(
            "event_type", flat=True
        )
    )
    assert sorted(types) == ["sync.finished", "sync.started"]


def test_second_sync_writes_no_mirror_row_and_no_record_event(workos_provider):
    first = run_sync(workos_provider)
    stamps = dict(OrganizationMembership.objects.values_list("pk", "updated_at"))
    events_before = AuditEvent.objects.count()

    with CaptureQueriesContext(connection) as captured:
        second = run_sync(workos_provider)

    assert second.state == SyncRun.State.SUCCEEDED
    assert (second.created, second.updated, second.removed) == (0, 0, 0)
    assert second.unchanged == first.created
    assert mirror_writes(captured.captured_queries) == []
    assert dict(OrganizationMembership.objects.values_list("pk", "updated_at")) == stamps
    assert record_events_of(second) == []
    assert AuditEvent.objects.count() == events_before + 2  # sync.started and sync.finished


@pytest.mark.parametrize("phase", ["first", "repeat"])
def test_sync_statements_do_not_grow_with_rows(workos_provider, workos_emulator, settings, phase):
    counts = []
    # The log's very first append has no Merkle tree to read; start both runs from a used log.
    record_events([EventSpec(event_type="test.recorded", outcome=Outcome.RECORDED)])
    for people in (72, 144):
        settings.KARMO_PROVIDER = f"sandbox-{people}"  # a fresh mirror for each size
        workos_emulator.app.reset(demo_dataset(people=people))
        if phase == "repeat":
            run_sync(workos_provider, batch_size=1000)
        with CaptureQueriesContext(connection) as captured:
            run = run_sync(workos_provider, batch_size=1000)
        assert run.seen > people
        counts.append(len(captured.captured_queries))
    assert counts[0] == counts[1]


def test_membership_changed_at_the_provider_is_updated_with_before_and_after(workos_provider):
    run_sync(workos_provider)
    membership = (
        OrganizationMembership.objects.filter(status=MirrorStatus.ACTIVE)
        .exclude(roles__slug="org-admin")
        .first()
    )
    remote = workos_provider.get_membership(membership.external_id)
    workos_provider.deactivate_membership(remote)
    workos_provider.set_membership_roles(remote, ("org-admin",))
    untouched = OrganizationMembership.objects.exclude(pk=membership.pk).values_list(
        "pk", "updated_at"
    )
    stamps = dict(untouched)

    run = run_sync(workos_provider)

    assert (run.created, run.updated, run.removed) == (0, 1, 0)
    membership.refresh_from_db()
    assert membership.status == MirrorStatus.INACTIVE
    assert membership.role_slugs == ["org-admin"]
    assert dict(untouched) == stamps
    [event] = record_events_of(run)
    assert event.event_type == "membership.sync_updated"
    assert event.target_id == membership.external_id
    assert event.organization_external_id == membership.organization.external_id
    assert event.before["status"] == "active"
    assert event.after == {"status": "inactive", "raw_status": "inactive", "roles": ["org-admin"]}
    assert set(event.before) == set(event.after)


def test_record_removed_at_the_provider_gets_removed_at_and_comes_back(
    workos_provider, workos_emulator
):
    run_sync(workos_provider)
    membership = OrganizationMembership.objects.order_by("pk").first()
    store = workos_emulator.app.store
    document = store.get("membership", membership.external_id)
    store.delete("membership", membership.external_id)

    run = run_sync(workos_provider)

    assert (run.created, run.updated, run.removed) == (0, 0, 1)
    membership.refresh_from_db()
    assert membership.removed_at is not None
    [event] = record_events_of(run)
    assert event.event_type == "membership.sync_removed"
    assert event.before == {"removed_at": None}
    assert OrganizationMembership.objects.present().count() == len(demo_dataset().memberships) - 1

    store.insert(
        "membership",
        membership.external_id,
        document,
        parent=document["organization_id"],
        ref=document["user_id"],
    )
    back = run_sync(workos_provider)
    membership.refresh_from_db()
    assert membership.removed_at is None
    assert (back.updated, back.removed) == (1, 0)
    [event] = record_events_of(back)
    assert event.event_type == "membership.sync_restored"
    assert event.after == {"removed_at": None}


def test_provider_failure_fails_the_run_with_an_audit_event(workos_emulator):
    provider = WorkOSProvider(
        api_key="sk_wrong", base_url=workos_emulator.url, timeout=TEST_TIMEOUT, retry=FAST_RETRY
    )
    try:
        run = run_sync(provider)
    finally:
        provider.close()

    assert run.state == SyncRun.State.FAILED
    assert ErrorCode.PROVIDER_AUTH_FAILED.code in run.errors
    assert run.finished_at is not None
    event = AuditEvent.objects.get(event_type="sync.failed")
    assert event.outcome == Outcome.FAILED
    assert event.error_code == ErrorCode.PROVIDER_AUTH_FAILED.code
    assert event.target_id == str(run.pk)
    assert Organization.objects.count() == 0


def test_failure_mid_stream_marks_nothing_removed(workos_provider, workos_emulator):
    run_sync(workos_provider)
    workos_emulator.app.faults.configure({"fail": [503] * 10})

    run = run_sync(workos_provider)

    assert run.state == SyncRun.State.FAILED
    assert ErrorCode.PROVIDER_UNAVAILABLE.code in run.errors
    assert OrganizationMembership.objects.filter(removed_at__isnull=False).count() == 0


def test_second_sync_is_refused_while_one_is_active(workos_provider, manager):
    active = SyncRun.objects.create(provider="sandbox", state=SyncRun.State.RUNNING)

    with pytest.raises(KarmoError) as refused:
        run_sync(workos_provider, actor=manager)

    assert refused.value.code is ErrorCode.STATE_CONFLICT
    assert f"run {active.pk}" in refused.value.message
    assert SyncRun.objects.count() == 1
    denied = AuditEvent.objects.get(event_type="sync.requested")
    assert denied.outcome == Outcome.DENIED


def test_start_sync_runs_the_task(workos_provider, workos_emulator, manager, settings, tmp_path):
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    settings.KARMO_SANDBOX_URL = workos_emulator.url

    run = start_sync(actor=manager)

    assert run.state == SyncRun.State.SUCCEEDED, run.errors
    assert run.task_id
    assert run.started_by == manager
    assert OrganizationMembership.objects.count() == len(demo_dataset().memberships)
    started = AuditEvent.objects.get(event_type="sync.started")
    assert (started.via, started.actor) == ("task", manager)
    assert AuditEvent.objects.filter(event_type="sync.requested", outcome="requested").exists()


def test_task_skips_a_run_that_is_not_queued(workos_provider):
    run = SyncRun.objects.create(provider="sandbox", state=SyncRun.State.SUCCEEDED)

    result = sync_provider_task.call(run.pk)

    assert result == {"sync_run": run.pk, "state": "succeeded"}
    assert not AuditEvent.objects.filter(event_type="sync.started").exists()


def test_help_desk_cannot_start_a_sync(help_desk):
    with pytest.raises(KarmoError) as refused:
        start_sync(actor=help_desk)

    assert refused.value.code is ErrorCode.PERMISSION_DENIED
    assert not SyncRun.objects.exists()
    assert AuditEvent.objects.get(event_type="sync.requested").outcome == Outcome.DENIED


def test_pk_set_holds_exactly_what_was_added():
    seen = PkSet()
    for pk in (1, 8, 9, 4095, 100_000):
        seen.add(pk)
    assert [pk for pk in range(100_002) if pk in seen] == [1, 8, 9, 4095, 100_000]
    assert "1" not in seen


def test_sync_provider_command_prints_progress_and_the_summary_line(
    workos_provider, workos_emulator, settings
):
    settings.KARMO_SANDBOX_URL = workos_emulator.url
    outputs = []
    for _ in range(2):
        out = StringIO()
        call_command("sync_provider", stdout=out)
        outputs.append(out.getvalue().splitlines())

    first, second = outputs
    assert first[0].startswith("organizations: seen=")
    assert re.fullmatch(
        r"sync: created=192 updated=0 removed=0 unchanged=0 requests=\d+ seconds=[\d.]+", first[-1]
    )
    assert int(re.search(r"requests=(\d+)", first[-1]).group(1)) > 4
    assert re.match(r"sync: created=0 updated=0 removed=0 unchanged=192 ", second[-1])
    run = SyncRun.objects.latest("pk")
    assert AuditEvent.objects.get(event_type="sync.started", target_id=str(run.pk)).via == "command"


def test_sync_provider_command_fails_when_the_provider_does(settings):
    settings.KARMO_PROVIDER = "workos"
    settings.WORKOS_API_KEY = ""

    with pytest.raises(CommandError, match="not configured"):
        call_command("sync_provider", stdout=StringIO())

    assert SyncRun.objects.get().state == SyncRun.State.FAILED


def test_unexpected_error_fails_the_run_and_is_raised(workos_provider):
    def broken_progress(run):
        if run.phase == "users":
            raise RuntimeError("progress display broke")

    with pytest.raises(RuntimeError):
        run_sync(workos_provider, progress=broken_progress)

    run = SyncRun.objects.get()
    assert run.state == SyncRun.State.FAILED
    assert ErrorCode.INTERNAL_ERROR.code in run.errors
    assert AuditEvent.objects.get(event_type="sync.failed").error_code == (
        ErrorCode.INTERNAL_ERROR.code
    )


def test_an_error_while_writing_stops_the_page_reader(workos_provider):
    def broken_progress(run):
        if run.phase == "users" and run.seen > 30:  # after the first batch of users
            raise RuntimeError("progress display broke")

    with pytest.raises(RuntimeError):
        run_sync(workos_provider, progress=broken_progress)

    assert [t for t in threading.enumerate() if t.name == "karmo-sync-prefetch"] == []


TARGET_FIELDS = (
    "target_type",
    "target_id",
    "target_repr",
    "organization_external_id",
    "user_external_id",
)
MIRRORED = {
    "organization": Organization,
    "provideruser": ProviderUser,
    "organizationmembership": OrganizationMembership,
    "organizationrole": OrganizationRole,
}


def test_record_events_describe_their_targets_and_the_chain_verifies(
    workos_provider, workos_emulator
):
    first = run_sync(workos_provider)
    changed, gone = OrganizationMembership.objects.filter(status=MirrorStatus.ACTIVE)[:2]
    workos_provider.deactivate_membership(workos_provider.get_membership(changed.external_id))
    workos_emulator.app.store.delete("membership", gone.external_id)
    second = run_sync(workos_provider)

    assert (second.updated, second.removed) == (1, 1)
    for run in (first, second):
        events = record_events_of(run)
        assert events
        for event in events:
            target = MIRRORED[event.target_type].objects.get(
                provider=run.provider, external_id=event.target_id
            )
            described = dict.fromkeys(TARGET_FIELDS, "") | describe_target(target)
            assert {name: getattr(event, name) for name in TARGET_FIELDS} == described
            assert (event.via, event.outcome) == ("sync", Outcome.RECORDED)
    assert verify_chain().ok


def test_record_described_writes_what_record_events_writes(workos_provider, manager):
    run_sync(workos_provider)
    role = OrganizationRole.objects.exclude(organization=None).first()
    spec = EventSpec(
        event_type="role.sync_updated",
        outcome=Outcome.RECORDED,
        actor=manager,
        target=role,
        via="sync",
        before={"name": "Old", "roles": ["a", "b"]},
        after={"name": "Nouveau ✓"},
        correlation_id="c0ffee",
        data={"sync_run": 7},
    )
    # A user agent holding what the fast path's placeholders look like must not confuse it.
    with audit_context(client_ip="127.0.0.1", user_agent=r'Bot "\u0000after\u0000" ü'):
        record_events([spec])
        described = [(spec.event_type, describe_target(role), spec.before, spec.after)]
        assert record_described(spec, described) == 1

    slow, fast = AuditEvent.objects.order_by("-sequence")[:2][::-1]
    compared = [
        name for name in HASHED_FIELDS if name not in ("sequence", "occurred_at", "prev_hash")
    ]
    assert {name: getattr(fast, name) for name in compared} == {
        name: getattr(slow, name) for name in compared
    }
    assert (fast.sequence, fast.prev_hash) == (slow.sequence + 1, slow.hash)
    assert verify_chain().ok


def test_failed_membership_listing_marks_no_user_or_organization_removed(
    workos_provider, workos_emulator
):
    run_sync(workos_provider)
    store = workos_emulator.app.store
    gone = OrganizationMembership.objects.select_related("user").order_by("pk").first().user
    for membership in gone.memberships.all():
        store.delete("membership", membership.external_id)
    store.delete("user", gone.external_id)
    broken = OrganizationMembership.objects.exclude(user=gone).order_by("pk").first()
    document = store.get("membership", broken.external_id)
    unreadable = {key: value for key, value in document.items() if key != "user_id"}
    store.put("membership", broken.external_id, unreadable)

    run = run_sync(workos_provider)

    assert run.state == SyncRun.State.FAILED
    gone.refresh_from_db()
    assert gone.removed_at is None  # the users listing completed, but memberships' did not
    assert ProviderUser.objects.filter(removed_at__isnull=False).count() == 0
    assert OrganizationMembership.objects.filter(removed_at__isnull=False).count() == 0
    assert not [e for e in record_events_of(run) if e.event_type.endswith(".sync_removed")]

    store.put("membership", broken.external_id, document)
    fixed = run_sync(workos_provider)

    assert fixed.state == SyncRun.State.SUCCEEDED
    gone.refresh_from_db()
    assert gone.removed_at is not None
    assert not OrganizationMembership.objects.present().filter(user=gone).exists()


def _without(name: str):
    return lambda document: {key: value for key, value in document.items() if key != name}


# For each emulator: a record it keeps as the adapter reads it, and how to make it unreadable.
UNREADABLE = {
    "workos": ("user", "list_users", _without("email")),
    "stytch": ("member", "list_memberships", lambda member: {**member, "roles": [{}]}),
    "zitadel": ("user", "list_users", _without("userId")),
}


@pytest.mark.parametrize("flavor", sorted(UNREADABLE))
def test_an_object_the_adapter_cannot_read_fails_the_sync_with_the_provider_named(flavor, request):
    provider = request.getfixturevalue(f"{flavor}_provider")
    store = request.getfixturevalue(f"{flavor}_emulator").app.store
    kind, listing, unreadable = UNREADABLE[flavor]
    record = next(iter(getattr(provider, listing)()))
    store.put(kind, record.id, unreadable(store.get(kind, record.id)))

    run = run_sync(provider)

    assert run.state == SyncRun.State.FAILED
    code, message = run.errors.split(" ", 1)
    assert code == "[50204001]"  # PROVIDER_UNREADABLE: asking again would not help
    assert f"({flavor} sent an unreadable object: KeyError(" in message
    assert not ProviderUser.objects.filter(removed_at__isnull=False).exists()
    assert not OrganizationMembership.objects.filter(removed_at__isnull=False).exists()


def test_a_zitadel_authorization_without_its_user_fails_the_sync_as_unreadable(
    zitadel_provider, zitadel_emulator, monkeypatch
) -> None:
    # The emulator renders an authorization's user from its store, so the answer is altered.
    render = zitadel_emulator.app._render_one
    monkeypatch.setattr(
        zitadel_emulator.app,
        "_render_one",
        lambda *args: {key: value for key, value in render(*args).items() if key != "user"},
    )

    run = run_sync(zitadel_provider)

    assert run.state == SyncRun.State.FAILED
    assert run.errors == (
        "[50204001] The access provider sent an answer Karmo cannot read. "
        "(zitadel sent an unreadable object: KeyError('user'))"
    )
    assert not OrganizationMembership.objects.filter(removed_at__isnull=False).exists()


@pytest.mark.postgres
def test_statistics_are_refreshed_each_time_sync_has_doubled_a_table(monkeypatch):
    def planner_rows() -> float:
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'accounts_organization'")
            return cursor.fetchone()[0]

    monkeypatch.setattr(store, "ANALYZE_MIN_ROWS", 1)
    table = Organization._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {table}")  # the planner's figure starts true: 0 rows
    statistics = store.Statistics()
    OrganizationFactory.create_batch(3)
    statistics.grew(table, 3)
    assert planner_rows() == 3
    OrganizationFactory.create_batch(2)
    statistics.grew(table, 2)  # 2 new rows on 3: not doubled, the planner's figure stays
    assert planner_rows() == 3
    OrganizationFactory.create_batch(1)
    statistics.grew(table, 1)
    assert planner_rows() == 6


def test_a_record_in_two_batches_in_a_row_is_created_once():
    # A batch is looked up while the one before it is being written: one that shares a record
    # with it must wait for that write, or it would plan to create the record a second time.
    run = SyncRun.objects.create(
        provider="sandbox", state=SyncRun.State.RUNNING, started_at=timezone.now()
    )
    syncer = Syncer(provider=None, run=run, actor=None, progress=None)
    people = [User(id=f"user_{n}", email=f"person{n}@example.com") for n in range(4)]
    read = timezone.now()

    syncer._list_kind(USERS, [(read, people[:2]), (read, people[1:3]), (read, people[3:])])

    assert ProviderUser.objects.filter(provider="sandbox").count() == 4
    assert (run.seen, run.created, run.unchanged) == (5, 4, 1)
    created = AuditEvent.objects.filter(event_type="user.sync_created")
    assert sorted(created.values_list("target_id", flat=True)) == [p.id for p in people]


@pytest.mark.parametrize("flavor", ["workos", "stytch", "zitadel"])
def test_any_list_page_of_another_shape_fails_the_sync_cleanly(flavor, request):
    """Whichever of a full sync's requests is answered with `[]` (lists read concurrently,
    Stytch's members shared by two lists), the run ends as failed and marks nothing removed."""
    provider = request.getfixturevalue(f"{flavor}_provider")
    emulator = request.getfixturevalue(f"{flavor}_emulator").app
    run_sync(provider)  # the mirror is full and the adapter has what it keeps (an owner id)
    before = emulator.request_count
    assert run_sync(provider).state == SyncRun.State.SUCCEEDED
    requests = emulator.request_count - before

    for answered in sorted({0, requests // 3, 2 * requests // 3, requests - 1}):
        emulator.faults.configure({"not_object": 1, "not_object_after": answered})

        run = run_sync(provider)

        assert emulator.faults.not_object == 0, answered
        assert run.state == SyncRun.State.FAILED, answered
        assert run.errors.startswith("[50204001] "), run.errors
        assert f"({flavor} sent an unreadable" in run.errors
        assert not ProviderUser.objects.filter(removed_at__isnull=False).exists()
        assert not OrganizationMembership.objects.filter(removed_at__isnull=False).exists()

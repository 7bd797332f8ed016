"""Sync heartbeats: a run whose process died is found by its silence and ended as failed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from accounts.approvals import expire_requests_task
from accounts.errors import ErrorCode, KarmoError
from accounts.models import AuditEvent, Outcome, SyncRun
from accounts.sync import run_sync

ROOT = Path(__file__).resolve().parent.parent


def running_run(heartbeat_age: float, provider: str = "workos") -> SyncRun:
    """A run left 'running' whose last heartbeat is `heartbeat_age` seconds old."""
    at = timezone.now() - timedelta(seconds=heartbeat_age)
    return SyncRun.objects.create(
        provider=provider, state=SyncRun.State.RUNNING, started_at=at, heartbeat_at=at
    )


def assert_ended_as_lost(run: SyncRun) -> None:
    run.refresh_from_db()
    assert run.state == SyncRun.State.FAILED
    assert run.finished_at is not None
    assert "no heartbeat since" in run.errors
    event = AuditEvent.objects.get(event_type="sync.failed", target_id=str(run.pk))
    assert event.outcome == Outcome.FAILED
    assert event.data["heartbeat"] == "lost"


@pytest.mark.django_db
def test_the_next_sync_ends_a_silent_run_as_failed(workos_provider, settings):
    settings.KARMO_PROVIDER = "workos"
    settings.KARMO_SYNC_STALE_SECONDS = 30
    silent = running_run(heartbeat_age=31)

    run = run_sync(provider=workos_provider)

    assert run.state == SyncRun.State.SUCCEEDED
    assert_ended_as_lost(silent)


@pytest.mark.django_db
def test_a_run_with_a_recent_heartbeat_still_blocks_a_new_one(workos_provider, settings):
    settings.KARMO_PROVIDER = "workos"
    settings.KARMO_SYNC_STALE_SECONDS = 30
    alive = running_run(heartbeat_age=25)

    with pytest.raises(KarmoError) as refused:
        run_sync(provider=workos_provider)

    assert refused.value.code is ErrorCode.STATE_CONFLICT
    alive.refresh_from_db()
    assert alive.state == SyncRun.State.RUNNING


@pytest.mark.django_db
def test_the_recurring_sweep_ends_a_silent_run(settings):
    settings.KARMO_SYNC_STALE_SECONDS = 30
    settings.KARMO_EXPIRY_SWEEP_MINUTES = 0
    silent = running_run(heartbeat_age=60)
    alive = running_run(heartbeat_age=1, provider="stytch")

    expire_requests_task.call()

    assert_ended_as_lost(silent)
    alive.refresh_from_db()
    assert alive.state == SyncRun.State.RUNNING


@pytest.mark.django_db(transaction=True)
def test_a_running_sync_beats_while_it_works(workos_provider, settings):
    settings.KARMO_PROVIDER = "workos"
    settings.KARMO_SYNC_HEARTBEAT_SECONDS = 0.05
    beats: set[object] = set()

    def slow_progress(run: SyncRun) -> None:
        time.sleep(0.12)
        beats.add(SyncRun.objects.values_list("heartbeat_at", flat=True).get(pk=run.pk))

    run = run_sync(provider=workos_provider, progress=slow_progress, batch_size=100)

    assert run.state == SyncRun.State.SUCCEEDED
    assert len(beats) >= 3  # stamped again between progress reports, by the heartbeat thread


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_sigkill_of_sync_provider_is_detected_and_the_next_sync_runs(
    workos_emulator, workos_provider, settings
):
    database = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}"
        f"/{database['NAME']}",
        "KARMO_PROVIDER": "sandbox",
        "KARMO_SANDBOX_URL": workos_emulator.url,
        "KARMO_SYNC_HEARTBEAT_SECONDS": "0.2",
        "KARMO_PROVIDER_MAX_RETRIES": "0",
    }
    workos_emulator.app.faults.configure({"delay": 3, "delay_count": 1000})
    process = subprocess.Popen(  # noqa: S603 - our own command, fixed arguments
        [sys.executable, "manage.py", "sync_provider", "--batch-size", "10"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        beats: set[object] = set()
        deadline = time.monotonic() + 30
        while len(beats) < 3 and time.monotonic() < deadline:
            beats.update(
                SyncRun.objects.filter(state=SyncRun.State.RUNNING).values_list(
                    "heartbeat_at", flat=True
                )
            )
            time.sleep(0.1)
        assert len(beats - {None}) >= 2, "the sync never beat"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    workos_emulator.app.faults.reset()
    killed = SyncRun.objects.get(state=SyncRun.State.RUNNING)
    settings.KARMO_PROVIDER = "sandbox"  # the same provider key, so the killed run blocks
    settings.KARMO_SYNC_STALE_SECONDS = 5

    with pytest.raises(KarmoError):  # its heartbeat is still fresh
        run_sync(provider=workos_provider)
    silent_for = (timezone.now() - killed.heartbeat_at).total_seconds()
    time.sleep(max(0.0, 5.2 - silent_for))
    run = run_sync(provider=workos_provider)

    assert run.state == SyncRun.State.SUCCEEDED
    assert_ended_as_lost(killed)

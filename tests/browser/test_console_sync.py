"""The sync page as staff use it: one run at a time, a table that follows, plain words."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from playwright.sync_api import expect

from accounts.models import SyncRun
from accounts.sync import run_sync

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_double_click_queues_one_run_and_the_recent_runs_follow(sign_in, sandbox_app, snap):
    page = sign_in("manager")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sync").click()
    page.get_by_role("button", name="Start a full sync").dblclick()
    progress = page.locator("#progress")
    expect(progress).to_contain_text("the run starts as soon as the background worker is free")
    expect(progress).not_to_contain_text("make worker")
    run = SyncRun.objects.get(state=SyncRun.State.QUEUED)
    recent = page.locator("#recent-runs tbody tr").first
    expect(recent).to_contain_text(f"#{run.pk}")
    expect(recent.locator(".badge")).to_have_text("queued")
    run_sync(run=run)  # what the task worker does
    expect(progress.locator(".badge").first).to_have_text("succeeded")
    expect(recent.locator(".badge")).to_have_text("succeeded")
    assert SyncRun.objects.count() == 2  # the fixture's sync and one from the double click
    snap(page, "sync-recent-runs")


def test_the_database_refuses_a_second_active_run(sandbox_app):
    SyncRun.objects.create(provider="sandbox", state=SyncRun.State.QUEUED)
    with pytest.raises(IntegrityError), transaction.atomic():
        SyncRun.objects.create(provider="sandbox", state=SyncRun.State.RUNNING)
    SyncRun.objects.create(provider="other", state=SyncRun.State.RUNNING)
    assert SyncRun.objects.filter(state__in=["queued", "running"]).count() == 2

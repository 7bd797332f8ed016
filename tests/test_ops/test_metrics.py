"""The Prometheus exposition: request latency by view, provider calls, database-wide state."""

from __future__ import annotations

import re

import pytest

from accounts.approvals import request_reactivation
from accounts.audit import record_event
from accounts.audit_verify import verify_and_remember
from accounts.checkpoints import write_checkpoint
from accounts.models import OrganizationMembership, Outcome
from accounts.sync.runs import run_sync
from ops.metrics import exposition
from providers.registry import get_provider

pytestmark = pytest.mark.django_db(transaction=True)
TOKEN = "t" * 40


def scrape(client, settings) -> str:
    settings.KARMO_METRICS_TOKEN = TOKEN
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


def value(text: str, sample: str) -> float:
    """The value of one sample line, e.g. 'karmo_approval_queue_depth'."""
    match = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.MULTILINE)
    assert match, f"{sample} not in the exposition"
    return float(match.group(1))


def test_requests_are_timed_by_view_name(client, settings, help_desk):
    client.force_login(help_desk)
    before = scrape(client, settings)
    key = 'karmo_http_request_duration_seconds_count{method="GET",view="console:find"}'
    start = value(before, key) if key in before else 0
    assert client.get("/find/?q=nobody").status_code == 200
    after = scrape(client, settings)
    assert value(after, key) == start + 1
    assert 'karmo_http_responses_total{method="GET",status="200",view="console:find"}' in after


def test_provider_calls_sync_runs_and_the_queue_show(
    client, settings, app_provider, help_desk, workos_emulator
):
    run = run_sync()
    inactive = OrganizationMembership.objects.filter(status="inactive").first()
    request_reactivation(actor=help_desk, target=inactive, reason="Back from leave")
    text = scrape(client, settings)
    ok = (
        "karmo_provider_call_duration_seconds_count"
        '{operation="list_memberships",outcome="ok",provider="workos"}'
    )
    assert value(text, ok) >= 1
    assert value(text, "karmo_approval_queue_depth") == 1
    assert 0 <= value(text, "karmo_approval_oldest_pending_age_seconds") < 60
    assert value(text, 'karmo_sync_runs_total{state="succeeded"}') == 1
    assert value(text, 'karmo_sync_last_records{kind="seen"}') == run.seen > 0
    assert value(text, "karmo_sync_last_failed") == 0
    assert value(text, "karmo_sync_last_requests") == run.requests > 0
    assert 0 <= value(text, "karmo_sync_last_duration_seconds") < 60
    assert value(text, "karmo_audit_events_total") >= 3
    assert value(text, "karmo_task_workers_fresh") == 0
    # Scraping writes nothing: the audit count stays.
    assert value(scrape(client, settings), "karmo_audit_events_total") == value(
        text, "karmo_audit_events_total"
    )


def test_a_429_retry_is_counted(settings, app_provider, workos_emulator):
    settings.KARMO_PROVIDER_MAX_RETRIES = 1
    key = 'karmo_provider_retries_total{provider="workos",reason="rate_limited"}'
    before = exposition().decode()
    start = value(before, key) if key in before else 0
    # One 429, then answers: independent of how fast this machine is right now.
    workos_emulator.app.faults.configure({"fail": [429]})
    provider = get_provider()
    try:
        list(provider.list_organizations())
    finally:
        provider.close()
    assert value(exposition().decode(), key) == start + 1


def test_checkpoint_and_verification_ages_show(client, settings, audit_signing):
    record_event(event_type="test.recorded", outcome=Outcome.RECORDED)
    text = scrape(client, settings)
    for never in ("checkpoint", "verification"):
        assert str(value(text, f"karmo_audit_last_{never}_age_seconds")) == "nan"
    assert value(text, "karmo_audit_last_verification_ok") == 0
    events = value(text, "karmo_audit_events_total")
    assert value(text, "karmo_audit_events_after_checkpoint") == events

    checkpoint = write_checkpoint()
    result, _ = verify_and_remember()
    assert result.ok
    text = scrape(client, settings)
    assert 0 <= value(text, "karmo_audit_last_checkpoint_age_seconds") < 60
    assert 0 <= value(text, "karmo_audit_last_verification_age_seconds") < 60
    assert value(text, "karmo_audit_last_verification_ok") == 1
    assert value(text, "karmo_audit_events_after_checkpoint") == (
        value(text, "karmo_audit_events_total") - checkpoint.tree_size
    )

"""The console's audit page shows the latest signed checkpoint, its age and the public key."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.audit import EventSpec, record_events
from accounts.checkpoints import write_checkpoint
from accounts.models import AuditCheckpoint, Outcome

pytestmark = pytest.mark.django_db


def record(n: int) -> None:
    record_events(EventSpec(event_type="test.recorded", outcome=Outcome.RECORDED) for _ in range(n))


def audit_page(client) -> str:
    answer = client.get("/audit/")
    assert answer.status_code == 200
    return answer.content.decode()


def test_without_a_key_the_page_says_checkpoints_are_not_configured(client, auditor, settings):
    settings.KARMO_AUDIT_SIGNING_KEY = ""
    client.force_login(auditor)
    page = audit_page(client)
    assert "not configured</span>" in page
    assert "KARMO_AUDIT_SIGNING_KEY" in page


def test_page_shows_the_witnessed_checkpoint_and_the_key(client, auditor, witness, audit_signing):
    client.force_login(auditor)  # signing in is an event too: before the checkpoint
    record(4)
    made = write_checkpoint()
    page = audit_page(client)
    assert f"{made.tree_size} events, root" in page
    assert '<span class="badge badge-ok">witnessed</span>' in page
    assert str(audit_signing.verifier) in page
    assert "not yet signed" not in page


def test_events_after_the_checkpoint_are_counted_and_overdue_is_flagged(
    client, auditor, audit_signing
):
    client.force_login(auditor)
    record(2)
    write_checkpoint()
    record(3)
    page = audit_page(client)
    assert "3 newer events not yet signed</span>" in page
    assert "overdue" not in page
    AuditCheckpoint.objects.update(created_at=timezone.now() - timedelta(minutes=5))
    assert "3 newer events not yet signed: checkpoints are overdue" in audit_page(client)


def test_verify_now_names_the_checkpoint_it_checked_against(client, auditor, audit_signing):
    record(2)
    made = write_checkpoint()
    client.force_login(auditor)
    answer = client.post("/audit/verify/", headers={"HX-Request": "true"})
    page = answer.content.decode()
    assert f"checked against checkpoint {made.tree_size:012d}.checkpoint" in page
    assert "verified</span>" in page

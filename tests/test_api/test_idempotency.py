"""Idempotency-Key: replay without a second provider call, refusal on reuse, 24-hour expiry."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from django.db import connection
from django.utils import timezone

from accounts.api.idempotency import claim
from accounts.errors import ErrorCode, KarmoError
from accounts.models import (
    ApiToken,
    IdempotencyRecord,
    MirrorStatus,
    Organization,
    OrganizationMembership,
    Outcome,
)
from tests.fixtures.app_provider import membership_in
from tests.fixtures.audit import assert_audited
from tests.test_api.conftest import ApiClient, assert_envelope, make_token

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def target(mirrored) -> OrganizationMembership:
    return membership_in(MirrorStatus.INACTIVE)


def reactivate_path(membership: OrganizationMembership) -> str:
    org, user = membership.organization.external_id, membership.user.external_id
    return f"/orgs/{org}/users/{user}/reactivate"


def test_repeat_with_same_key_replays_without_calling_the_provider(
    target, manager_api, workos_emulator
):
    first = manager_api.post(reactivate_path(target), **{"Idempotency-Key": "k-1"})
    assert first.status_code == 200
    calls = workos_emulator.app.request_count
    again = manager_api.post(reactivate_path(target), **{"Idempotency-Key": "k-1"})
    assert (again.status_code, again.json()) == (200, first.json())
    assert again["Idempotent-Replayed"] == "true"
    assert again["Content-Type"].startswith("application/json")
    assert workos_emulator.app.request_count == calls
    assert_audited("membership.reactivated", target=target, outcome=Outcome.SUCCEEDED, count=1)


def test_same_key_with_another_body_or_path_is_refused(mirrored, manager_api):
    org = Organization.objects.order_by("external_id").first().external_id
    headers = {"Idempotency-Key": "k-2"}
    assert manager_api.put(f"/orgs/{org}/roles/org-x", {"name": "X"}, **headers).status_code == 200
    changed_body = manager_api.put(f"/orgs/{org}/roles/org-x", {"name": "Y"}, **headers)
    assert_envelope(changed_body, 409, "40907001")
    changed_path = manager_api.put(f"/orgs/{org}/roles/org-y", {"name": "X"}, **headers)
    assert_envelope(changed_path, 409, "40907001")


def test_keys_belong_to_one_token(target, manager, manager_api, workos_emulator):
    manager_api.post(reactivate_path(target), **{"Idempotency-Key": "shared"})
    other = ApiClient(make_token(manager, name="other"))
    response = other.post(reactivate_path(target), **{"Idempotency-Key": "shared"})
    assert response.status_code == 200
    assert not response.has_header("Idempotent-Replayed")


def test_key_expires_after_24_hours(target, manager_api, workos_emulator):
    manager_api.post(reactivate_path(target), **{"Idempotency-Key": "old"})
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
    response = manager_api.post(reactivate_path(target), **{"Idempotency-Key": "old"})
    assert response.status_code == 200
    assert not response.has_header("Idempotent-Replayed")
    assert IdempotencyRecord.objects.get().created_at > timezone.now() - timedelta(minutes=1)


def test_refusals_are_replayed_but_failures_worth_retrying_are_not(
    target, manager_api, workos_emulator
):
    pending = OrganizationMembership.objects.filter(status=MirrorStatus.PENDING).first()
    headers = {"Idempotency-Key": "pending"}
    assert_envelope(manager_api.post(reactivate_path(pending), **headers), 409, "40905001")
    replayed = manager_api.post(reactivate_path(pending), **headers)
    assert_envelope(replayed, 409, "40905001")
    assert replayed["Idempotent-Replayed"] == "true"

    workos_emulator.app.faults.configure({"fail": [503]})
    headers = {"Idempotency-Key": "outage"}
    assert_envelope(manager_api.post(reactivate_path(target), **headers), 503, "50304002")
    assert manager_api.post(reactivate_path(target), **headers).status_code == 200


def test_a_key_still_being_processed_is_409_until_abandoned(target, manager, manager_api):
    token = ApiToken.objects.get(user=manager)
    path = f"/api/v1{reactivate_path(target)}"
    fingerprint = ("POST", path, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    record = claim(token, "busy", fingerprint)
    assert isinstance(record, IdempotencyRecord)
    with pytest.raises(KarmoError) as caught:
        claim(token, "busy", fingerprint)
    assert caught.value.code is ErrorCode.IDEMPOTENCY_IN_PROGRESS
    response = manager_api.post(reactivate_path(target), **{"Idempotency-Key": "busy"})
    assert_envelope(response, 409, "40907002")
    assert response["Retry-After"] == "1"
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(minutes=10))
    assert (
        manager_api.post(reactivate_path(target), **{"Idempotency-Key": "busy"}).status_code == 200
    )


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9"])
def test_malformed_keys_are_400(target, manager_api, key):
    response = manager_api.post(reactivate_path(target), **{"Idempotency-Key": key})
    assert_envelope(response, 400, "40000006")
    assert not IdempotencyRecord.objects.exists()


def test_reads_ignore_the_key(mirrored, manager_api):
    assert manager_api.get("/orgs", **{"Idempotency-Key": "read"}).status_code == 200
    assert not IdempotencyRecord.objects.exists()


def test_concurrent_repeats_make_the_change_once(live_server, target, manager, workos_emulator):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's test database is one connection shared by the server's threads")
    headers = {"Authorization": f"Bearer {make_token(manager)}", "Idempotency-Key": "race"}
    base = live_server.url.replace("localhost", "127.0.0.1")
    url = f"{base}/api/v1{reactivate_path(target)}"
    workos_emulator.app.faults.configure({"delay": 0.5, "delay_count": 1})
    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(lambda _: httpx.post(url, headers=headers, timeout=10), range(4)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses[0] == 200
    assert set(statuses) <= {200, 409}
    assert all(r.json()["code"] == "40907002" for r in responses if r.status_code == 409)
    assert_audited("membership.reactivated", target=target, outcome=Outcome.SUCCEEDED, count=1)

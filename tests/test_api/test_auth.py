"""Bearer tokens: who may call, what they may read, and the token-issuing command."""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.models import ApiToken, AuditEvent
from tests.factories import OrganizationFactory
from tests.test_api.conftest import ApiClient, assert_envelope, make_token

pytestmark = pytest.mark.django_db


def test_request_without_token_is_401_asking_for_one():
    assert_envelope(ApiClient(None).get("/orgs"), 401, "40101001")


def test_basic_auth_is_not_a_bearer_token(manager):
    client = ApiClient(None)
    response = client.get("/orgs", Authorization="Basic bWF4Om5vcGU=")
    assert_envelope(response, 401, "40101001")


def test_unknown_token_is_401_invalid():
    assert_envelope(ApiClient("not-a-real-token").get("/orgs"), 401, "40101002")


@pytest.mark.parametrize(
    "fields",
    [
        {"expires_at": timezone.now() - timedelta(seconds=1)},
        {"revoked_at": timezone.now()},
    ],
    ids=["expired", "revoked"],
)
def test_expired_or_revoked_token_is_401(manager, fields):
    client = ApiClient(make_token(manager, **fields))
    body = assert_envelope(client.get("/orgs"), 401, "40101003")
    assert "expired or was revoked" in body["message"]


def test_token_with_future_expiry_works(manager):
    client = ApiClient(make_token(manager, expires_at=timezone.now() + timedelta(days=1)))
    assert client.get("/orgs").status_code == HTTPStatus.OK


@pytest.mark.parametrize("change", ["is_active", "is_staff"])
def test_token_of_deactivated_or_non_staff_user_is_refused(manager, change):
    client = ApiClient(make_token(manager))
    setattr(manager, change, False)
    manager.save()
    assert_envelope(client.get("/orgs"), 401, "40101002")


def test_last_used_is_recorded_at_most_once_a_minute(manager):
    raw = make_token(manager)
    token = ApiToken.objects.get()
    assert token.last_used_at is None
    client = ApiClient(raw)
    client.get("/orgs")
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    client.get("/orgs")
    token.refresh_from_db()
    assert token.last_used_at == first
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - timedelta(minutes=2))
    client.get("/orgs")
    token.refresh_from_db()
    assert token.last_used_at > first


def test_staff_user_without_a_role_is_forbidden_to_read(db):
    nobody = User.objects.create_user("nora.norole", is_staff=True)
    OrganizationFactory()
    response = ApiClient(make_token(nobody)).get("/orgs")
    assert_envelope(response, 403, "40302001")


@pytest.mark.parametrize(
    ("role_api", "status"),
    [("help_desk_api", 403), ("auditor_api", 200), ("manager_api", 200)],
)
def test_audit_events_are_for_auditors_and_managers(request, role_api, status):
    response = request.getfixturevalue(role_api).get("/audit-events")
    assert response.status_code == status


def test_create_api_token_prints_a_working_token_alone_on_the_last_line(manager):
    out = StringIO()
    call_command("create_api_token", "--user", manager.username, "--name", "ci", stdout=out)
    raw = out.getvalue().rstrip("\n").splitlines()[-1]
    assert " " not in raw
    assert len(raw) >= 32
    token = ApiToken.objects.get(user=manager)
    assert token.name == "ci"
    assert token.expires_at is None
    assert raw not in token.token_hash
    assert raw.startswith(token.prefix)
    assert ApiClient(raw).get("/orgs").status_code == HTTPStatus.OK
    event = AuditEvent.objects.get(event_type="api_token.issued")
    assert event.via == "command"
    assert raw not in str(event.after)


def test_create_api_token_sets_expiry_in_days(manager):
    call_command(
        "create_api_token", "--user", manager.username, "--expires-in", "7", stdout=StringIO()
    )
    token = ApiToken.objects.get(user=manager)
    assert timedelta(days=6, hours=23) < token.expires_at - timezone.now() <= timedelta(days=7)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user", "ghost"], "No user"),
        (["--user", "plain.user"], "not an active staff user"),
        (["--user", "max.manager", "--expires-in", "0"], "at least 1 day"),
    ],
)
def test_create_api_token_refuses_bad_input(manager, args, message):
    User.objects.create_user("plain.user")
    with pytest.raises(CommandError, match=message):
        call_command("create_api_token", *args, stdout=StringIO())
    assert not ApiToken.objects.exists()

"""One JSON line per request and per provider call, with request ids and no secrets."""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.conf import settings as django_settings

from accounts.models import OrganizationMembership
from ops.logs import KarmoJsonFormatter, RequestIdFilter
from ops.middleware import request_id
from tests.test_api.conftest import make_token

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def json_log():
    """The karmo loggers' output, formatted as with KARMO_LOG_FORMAT=json."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(KarmoJsonFormatter())
    handler.addFilter(RequestIdFilter())
    karmo = logging.getLogger("karmo")
    karmo.addHandler(handler)
    yield stream
    karmo.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_an_api_write_logs_its_request_and_provider_call_under_one_id(
    client, json_log, mirrored, manager
):
    raw = make_token(manager)
    membership = OrganizationMembership.objects.filter(status="inactive").first()
    response = client.post(
        f"/api/v1/orgs/{membership.organization.external_id}/users/"
        f"{membership.user.external_id}/reactivate",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
        HTTP_X_REQUEST_ID="trace-42",
    )
    assert response.status_code == 200
    assert response["X-Request-ID"] == "trace-42"
    records = lines(json_log)
    call = next(r for r in records if r["message"].startswith("provider call"))
    assert call["operation"] == "reactivate_membership"
    assert call["outcome"] == "ok"
    assert call["request_id"] == "trace-42"
    (request,) = [r for r in records if r["message"].startswith("request ")]
    assert request["request_id"] == "trace-42"
    assert request["level"] == "INFO"
    assert request["actor"] == manager.username
    assert request["status"] == 200
    assert request["method"] == "POST"
    assert request["view"].startswith("api")
    assert request["duration_ms"] > 0
    assert "time" in request
    text = json_log.getvalue()
    assert raw not in text
    assert django_settings.WORKOS_API_KEY not in text


def test_no_password_token_or_secret_reaches_the_log(client, json_log, manager, settings):
    manager.set_password("correct horse battery staple")
    manager.save()
    settings.KARMO_METRICS_TOKEN = "s" * 40
    response = client.post(
        "/login/", {"username": manager.username, "password": "correct horse battery staple"}
    )
    assert response.status_code == 302
    client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {settings.KARMO_METRICS_TOKEN}")
    logging.getLogger("karmo.test").warning(
        "echo of a careless caller: Authorization: Bearer abc.DEF-123 key %s",
        settings.SECRET_KEY,
    )
    text = json_log.getvalue()
    assert "correct horse" not in text
    assert settings.KARMO_METRICS_TOKEN not in text
    assert "abc.DEF-123" not in text
    assert settings.SECRET_KEY not in text
    assert "Bearer [redacted]" in text
    assert lines(json_log)[0]["view"] == "login"


@pytest.mark.parametrize(
    ("given", "kept"),
    [("abc-123", True), ("x" * 65, False), ("a\nforged line", False), ("", False)],
)
def test_a_caller_request_id_is_kept_only_when_plain(given, kept):
    assert (request_id(given) == given) is kept

"""X-Request-ID: a caller's id is echoed and audited only when it has the safe format."""

from __future__ import annotations

import re

import pytest

from accounts.models import AuditEvent, MirrorStatus, Outcome
from tests.fixtures.app_provider import membership_in
from tests.test_api.conftest import assert_envelope

pytestmark = pytest.mark.django_db(transaction=True)

GENERATED = re.compile(r"[0-9a-f]{32}")


def denied_reactivation(client, request_id: str):
    target = membership_in(MirrorStatus.INACTIVE)
    path = f"/orgs/{target.organization.external_id}/users/{target.user.external_id}/reactivate"
    response = client.post(path, **{"X-Request-ID": request_id})
    assert_envelope(response, 403, "40302002")
    return response, AuditEvent.objects.get(outcome=Outcome.DENIED)


@pytest.mark.parametrize("given", ["abc-123", "trace:9f.2_A", "x" * 64])
def test_a_safe_request_id_is_echoed_and_audited(mirrored, help_desk_api, given):
    response, event = denied_reactivation(help_desk_api, given)
    assert response["X-Request-ID"] == given
    assert event.request_id == given


@pytest.mark.parametrize(
    "given",
    [
        "\xe2\x80\xae<script>",  # U+202E then markup, as raw UTF-8 bytes on the wire
        "<script>alert(1)</script>",
        "a b",
        "x" * 65,
        "id\tnext",
        "café",
    ],
)
def test_an_unsafe_request_id_is_replaced(mirrored, help_desk_api, given):
    response, event = denied_reactivation(help_desk_api, given)
    assert GENERATED.fullmatch(response["X-Request-ID"])
    assert event.request_id == response["X-Request-ID"]

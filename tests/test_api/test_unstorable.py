"""NUL characters and lone surrogates anywhere in a request: a 4xx envelope on every database,
never a 500 (PostgreSQL refuses such text outright)."""

from __future__ import annotations

import base64
import json

import pytest

from accounts.models import AuditEvent, MirrorStatus, Organization
from tests.fixtures.app_provider import membership_in
from tests.test_api.conftest import assert_envelope

pytestmark = pytest.mark.django_db(transaction=True)


def cursor_of(kind: str, values: list) -> str:
    raw = json.dumps([kind, values]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.fixture
def known(mirrored) -> dict[str, str]:
    membership = membership_in(MirrorStatus.INACTIVE)
    return {"org": membership.organization.external_id, "user": membership.user.external_id}


@pytest.mark.parametrize(
    ("method", "path", "pointer"),
    [
        ("GET", "/orgs/org_%00x", "/orgId"),
        ("GET", "/orgs/org_%00x/memberships", "/orgId"),
        ("GET", "/orgs/org_%00x/roles", "/orgId"),
        ("GET", "/orgs/{org}/users/user_%00x", "/userId"),
        ("GET", "/users/user_%00x", "/userId"),
        ("POST", "/orgs/{org}/users/user_%00x/reactivate", "/userId"),
        ("POST", "/orgs/org_%00x/users/{user}/reactivate", "/orgId"),
        ("POST", "/users/user_%00x/activate", "/userId"),
        ("POST", "/orgs/org_%00x/reactivate", "/orgId"),
        ("PUT", "/orgs/{org}/roles/org-%00x", "/roleSlug"),
        ("PUT", "/orgs/{org}/users/user_%00x/roles", "/userId"),
        ("GET", "/orgs/org_%ED%A0%80x", "/orgId"),  # a lone surrogate's UTF-8 form
    ],
)
def test_nul_in_a_path_id_is_a_422_with_a_pointer(manager_api, known, method, path, pointer):
    before = AuditEvent.objects.count()
    body = {"name": "Role", "roles": ["org-admin"]} if method == "PUT" else None
    response = manager_api.request(method, path.format(**known), body)
    if response.status_code == 404:  # Django re-quotes broken UTF-8, so no such id exists
        assert response.json()["code"].startswith("404")
        return
    found = assert_envelope(response, 422, "42200001")
    assert [e["pointer"] for e in found["errors"]] == [pointer]
    assert AuditEvent.objects.count() == before


@pytest.mark.parametrize(
    ("path", "kind"),
    [("/orgs", "orgs"), ("/users", "users"), ("/orgs/{org}/memberships", "memberships:{pk}")],
)
@pytest.mark.parametrize("bad", ["a\x00", "\ud800"])
def test_a_cursor_decoding_to_unstorable_text_is_refused(manager_api, known, path, kind, bad):
    pk = Organization.objects.get(external_id=known["org"]).pk
    cursor = cursor_of(kind.format(pk=pk), [bad, 1])
    response = manager_api.get(f"{path.format(**known)}?cursor={cursor}")
    found = assert_envelope(response, 400, "40000005")
    assert [e["pointer"] for e in found["errors"]] == ["/cursor"]


def test_nul_in_a_body_or_query_is_a_422_with_a_pointer(manager_api, known):
    response = manager_api.put(
        f"/orgs/{known['org']}/users/{known['user']}/roles", {"roles": ["org-a\x00"]}
    )
    found = assert_envelope(response, 422, "42200001")
    assert [e["pointer"] for e in found["errors"]] == ["/roles/0"]
    response = manager_api.get("/users?email=a%00b")
    found = assert_envelope(response, 422, "42200001")
    assert [e["pointer"] for e in found["errors"]] == ["/email"]

"""Permission × scope matrix: an out-of-scope object answers exactly like a missing one.

For every console URL, API operation and admin page that names an object, each staff role
limited to Acme gets, for a Wayne Retail object, the same status (and Karmo code) as for an id
that does not exist; for an Acme object it never gets 404. Lists show and count only Acme, with
a number of queries that does not grow with the data.
"""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.audit import record_event
from accounts.models import (
    MirrorStatus,
    Organization,
    Outcome,
    ReactivationRequest,
    StaffScope,
    TargetType,
)
from tests.factories import MembershipFactory, OrganizationFactory, ProviderUserFactory
from tests.test_api.conftest import ApiClient, make_token

pytestmark = pytest.mark.django_db

MISSING = 987_654


@pytest.fixture(autouse=True)
def no_provider(settings):
    """Writes that pass scope and permission stop at "not configured", before any provider."""
    settings.KARMO_PROVIDER = "workos"
    settings.WORKOS_API_KEY = ""


def customer(name: str, external_id: str, people: int = 1) -> dict:
    """An organization with inactive members, a pending request and an audit event."""
    org = OrganizationFactory(name=name, external_id=external_id)
    members = [
        MembershipFactory(
            organization=org,
            user=ProviderUserFactory(),
            status=MirrorStatus.INACTIVE,
        )
        for _ in range(people)
    ]
    requester = User.objects.get_or_create(username="requester", defaults={"is_staff": True})[0]
    request = ReactivationRequest.objects.create(
        target_type=TargetType.MEMBERSHIP,
        membership=members[0],
        requested_by=requester,
        reason="called in",
        expires_at="2099-01-01T00:00:00Z",
    )
    event = record_event(event_type="test.seen", outcome=Outcome.RECORDED, target=org)
    return {"org": org, "membership": members[0], "request": request, "event": event}


@pytest.fixture
def world(db):
    return {
        "acme": customer("Acme Europe", "org_acme"),
        "wayne": customer("Wayne Retail", "org_wayne"),
    }


@pytest.fixture(params=["help_desk", "manager", "auditor"])
def staff(request, world) -> User:
    user = request.getfixturevalue(request.param)
    scope = StaffScope.objects.create(user=user)
    scope.organizations.set([world["acme"]["org"]])
    return user


def console_urls(side: dict | None) -> list[tuple[str, str]]:
    """(method, url) for every console URL naming an object (a missing one when side is None)."""
    org = side["org"].pk if side else MISSING
    membership = side["membership"].pk if side else MISSING
    person = side["membership"].user_id if side else MISSING
    request = side["request"].pk if side else MISSING
    event = side["event"].sequence if side else MISSING
    return [
        ("get", reverse("console:organization", args=[org])),
        ("get", reverse("console:person", args=[person])),
        ("get", reverse("console:audit-event", args=[event])),
        ("post", reverse("console:organization-request", args=[org])),
        ("post", reverse("console:organization-reactivate", args=[org])),
        ("post", reverse("console:organization-deactivate", args=[org])),
        ("post", reverse("console:organization-refresh", args=[org])),
        ("post", reverse("console:organization-role-save", args=[org])),
        ("post", reverse("console:person-refresh", args=[person])),
        ("post", reverse("console:membership-request", args=[membership])),
        ("post", reverse("console:membership-reactivate", args=[membership])),
        ("post", reverse("console:membership-deactivate", args=[membership])),
        ("post", reverse("console:membership-roles", args=[membership])),
        ("post", reverse("console:membership-extend", args=[membership])),
        ("post", reverse("console:membership-end-access", args=[membership])),
        ("post", reverse("console:approve", args=[request])),
        ("post", reverse("console:reject", args=[request])),
        ("post", reverse("console:cancel", args=[request])),
    ]


def api_calls(side: dict | None) -> list[tuple[str, str, dict | None]]:
    """(method, path, body) for every API operation naming an object."""
    org = side["org"].external_id if side else "org_missing"
    user = side["membership"].user.external_id if side else "user_missing"
    request = side["request"].pk if side else MISSING
    event = side["event"].sequence if side else MISSING
    return [
        ("GET", f"/audit-events/{event}/proof", None),
        ("GET", f"/orgs/{org}", None),
        ("GET", f"/orgs/{org}/memberships", None),
        ("GET", f"/orgs/{org}/roles", None),
        ("GET", f"/orgs/{org}/users/{user}", None),
        ("GET", f"/users/{user}", None),
        ("GET", f"/reactivation-requests/{request}", None),
        ("POST", f"/orgs/{org}/users/{user}/reactivate", None),
        ("POST", f"/orgs/{org}/reactivate", None),
        ("POST", f"/users/{user}/activate", None),
        ("PUT", f"/orgs/{org}/roles/org-helper", {"name": "Helper"}),
        ("PUT", f"/orgs/{org}/users/{user}/roles", {"roles": ["member"]}),
        ("POST", f"/orgs/{org}/users/{user}/access/extend", {"duration": "P1D"}),
        ("POST", f"/orgs/{org}/users/{user}/access/end", None),
        ("POST", f"/reactivation-requests/{request}/approve", None),
        ("POST", f"/reactivation-requests/{request}/reject", {"comment": "no"}),
        ("POST", f"/reactivation-requests/{request}/cancel", None),
    ]


def answer(response) -> tuple[int, str]:
    """Status and, for the API's JSON errors, the Karmo code."""
    code = ""
    if response.get("Content-Type", "").startswith("application/json"):
        code = response.json().get("code", "")
    return response.status_code, code


def test_console_out_of_scope_answers_like_missing(world, staff):
    client = Client()
    client.force_login(staff)
    form = {"reason": "r", "comment": "c", "slug": "org-x", "name": "X", "roles": ["member"]}
    rows = zip(
        console_urls(world["wayne"]), console_urls(None), console_urls(world["acme"]), strict=True
    )
    for (method, outside), (_, missing), (_, inside) in rows:
        out = getattr(client, method)(outside, form)
        gone = getattr(client, method)(missing, form)
        assert out.status_code == gone.status_code, (staff, outside)
        assert getattr(client, method)(inside, form).status_code != HTTPStatus.NOT_FOUND, inside


def test_api_out_of_scope_answers_like_missing(world, staff):
    api = ApiClient(make_token(staff))
    sides = (world["wayne"], None, world["acme"])
    rows = zip(*(api_calls(side) for side in sides), strict=True)
    for (method, outside, body), (_, missing, _), (_, inside, _) in rows:
        out = answer(api.request(method, outside, body))
        gone = answer(api.request(method, missing, body))
        assert out == gone, (staff.username, outside, out, gone)
        assert api.request(method, inside, body).status_code != HTTPStatus.NOT_FOUND, inside


def test_admin_out_of_scope_answers_like_missing(world, staff, client):
    staff.is_staff = True
    staff.save()
    client.force_login(staff)
    for name, side_key in (("organization", "org"), ("organizationmembership", "membership")):
        url = f"admin:accounts_{name}_change"
        outside = client.get(reverse(url, args=[world["wayne"][side_key].pk]))
        missing = client.get(reverse(url, args=[MISSING]))
        assert outside.status_code == missing.status_code
        inside = client.get(reverse(url, args=[world["acme"][side_key].pk]))
        assert inside.status_code == HTTPStatus.OK
    # A bulk action posted with an out-of-scope id acts on nothing.
    action = {
        "action": "refresh_from_provider",
        "_selected_action": [world["wayne"]["org"].pk],
    }
    client.post(reverse("admin:accounts_organization_changelist"), action)
    assert not ReactivationRequest.objects.filter(organization=world["wayne"]["org"]).exists()


def list_pages() -> dict[str, tuple[str, str]]:
    return {
        "find": ("console", reverse("console:find") + "?q=person"),
        "approvals": ("console", reverse("console:approvals")),
        "audit": ("console", reverse("console:audit")),
        "verification": ("console", reverse("console:verification")),
        "orgs": ("api", "/orgs"),
        "users": ("api", "/users"),
        "requests": ("api", "/reactivation-requests"),
        "audit-events": ("api", "/audit-events"),
    }


def fetch(user: User, kind: str, url: str):
    if kind == "api":
        return ApiClient(make_token(user)).get(url)
    client = Client()
    client.force_login(user)
    return client.get(url)


def test_lists_show_only_the_scope_with_constant_queries(world, manager):
    StaffScope.objects.create(user=manager).organizations.set([world["acme"]["org"]])
    first = {}
    for name, (kind, url) in list_pages().items():
        response = fetch(User.objects.get(pk=manager.pk), kind, url)
        body = response.content.decode()
        assert response.status_code == HTTPStatus.OK, (name, body[:300])
        assert "Wayne" not in body, name
        assert "org_wayne" not in body, name
        with CaptureQueriesContext(connection) as queries:
            fetch(User.objects.get(pk=manager.pk), kind, url)
        first[name] = len(queries)
    # More of everything, inside and outside the scope: the same number of queries.
    for index in range(3):
        customer(f"Wayne Outlet {index}", f"org_wayne_{index}", people=3)
        more = customer(f"Acme Branch {index}", f"org_acme_{index}", people=3)
        StaffScope.objects.get(user=manager).organizations.add(more["org"])
    assert Organization.objects.count() == 8
    for name, (kind, url) in list_pages().items():
        fetch(User.objects.get(pk=manager.pk), kind, url)
        with CaptureQueriesContext(connection) as queries:
            response = fetch(User.objects.get(pk=manager.pk), kind, url)
        assert "Wayne" not in response.content.decode(), name
        assert len(queries) == first[name], (name, first[name], len(queries))
    orgs = fetch(manager, "api", "/orgs").json()["data"]
    assert sorted(o["name"] for o in orgs) == [
        "Acme Branch 0",
        "Acme Branch 1",
        "Acme Branch 2",
        "Acme Europe",
    ]


def test_scoped_auditor_gets_the_log_wide_consistency_proof(world, auditor):
    # Sizes and hashes only, no event: verifying the log needs them whatever one's scope.
    StaffScope.objects.create(user=auditor).organizations.set([world["acme"]["org"]])
    api = ApiClient(make_token(auditor))
    assert api.request("GET", "/audit/consistency?from=1&to=2", None).status_code == HTTPStatus.OK

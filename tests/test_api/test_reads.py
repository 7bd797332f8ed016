"""Read endpoints over the mirror: shapes, filters, keyset cursors, 404s."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.audit import record_event
from accounts.models import AuditEvent, MirrorStatus, Outcome, ReactivationRequest, TargetType
from tests.factories import (
    MembershipFactory,
    MembershipRoleFactory,
    OrganizationFactory,
    OrganizationRoleFactory,
    ProviderUserFactory,
)
from tests.test_api.conftest import assert_envelope

pytestmark = pytest.mark.django_db

ORG_KEYS = {"id", "name", "status"}
USER_KEYS = {"id", "email", "firstName", "lastName", "status"}
MEMBERSHIP_KEYS = {"orgId", "userId", "roles", "status"}


def walk(client, path: str, **params) -> list[dict]:
    """Every item of a list, following nextCursor; checks each page's shape."""
    items, cursor = [], None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = client.get(f"{path}?{urlencode(query)}")
        assert response.status_code == 200, response.content
        body = response.json()
        assert set(body) == {"data", "nextCursor"}
        assert len(body["data"]) <= params.get("limit", 50)
        items += body["data"]
        cursor = body["nextCursor"]
        if cursor is None:
            return items


def test_list_organizations_pages_by_name_with_cursors(manager_api):
    for name in ["Delta", "alpha", "Charlie", "Bravo", "Echo"]:
        OrganizationFactory(name=name)
    OrganizationFactory(name="Gone", removed_at=timezone.now())
    items = walk(manager_api, "/orgs", limit=2)
    assert all(set(item) == ORG_KEYS for item in items)
    names = [item["name"] for item in items]
    assert sorted(names) == sorted(["Delta", "alpha", "Charlie", "Bravo", "Echo"])
    assert len(set(names)) == 5


def test_cursor_survives_inserts_before_its_position(manager_api):
    for name in ["b1", "b2", "b3"]:
        OrganizationFactory(name=name)
    first = manager_api.get("/orgs?limit=2").json()
    OrganizationFactory(name="a0")
    rest = manager_api.get(f"/orgs?limit=2&cursor={first['nextCursor']}").json()
    assert [o["name"] for o in first["data"] + rest["data"]] == ["b1", "b2", "b3"]
    assert rest["nextCursor"] is None


def test_list_organizations_filters_by_status(manager_api):
    OrganizationFactory(name="On")
    off = OrganizationFactory(name="Off", status=MirrorStatus.INACTIVE)
    body = manager_api.get("/orgs?status=inactive").json()
    assert body["data"] == [{"id": off.external_id, "name": "Off", "status": "inactive"}]


def test_get_organization_and_404s(manager_api):
    org = OrganizationFactory(name="Acme")
    response = manager_api.get(f"/orgs/{org.external_id}")
    assert response.json() == {"id": org.external_id, "name": "Acme", "status": "active"}
    body = assert_envelope(manager_api.get("/orgs/org_missing"), 404, "40405001")
    assert body["meta"] == {"orgId": "org_missing"}
    gone = OrganizationFactory(removed_at=timezone.now())
    assert_envelope(manager_api.get(f"/orgs/{gone.external_id}"), 404, "40405001")


def test_list_memberships_filters_by_status_and_role(help_desk_api):
    org = OrganizationFactory()
    admin = MembershipFactory(organization=org, user__email="a@x.example")
    MembershipRoleFactory(membership=admin, slug="org-admin")
    MembershipRoleFactory(membership=admin, slug="member")
    inactive = MembershipFactory(organization=org, inactive=True, user__email="b@x.example")
    MembershipFactory(organization=org, pending=True, user__email="c@x.example")
    MembershipFactory()  # another organization's
    everyone = walk(help_desk_api, f"/orgs/{org.external_id}/memberships", limit=2)
    assert [set(m) for m in everyone] == [MEMBERSHIP_KEYS] * 3
    assert everyone[0] == {
        "orgId": org.external_id,
        "userId": admin.user.external_id,
        "roles": ["member", "org-admin"],
        "status": "active",
    }
    by_status = walk(help_desk_api, f"/orgs/{org.external_id}/memberships", status="inactive")
    assert [m["userId"] for m in by_status] == [inactive.user.external_id]
    by_role = walk(help_desk_api, f"/orgs/{org.external_id}/memberships", role="org-admin")
    assert [m["userId"] for m in by_role] == [admin.user.external_id]


def test_list_queries_do_not_grow_with_the_page(help_desk_api):
    org = OrganizationFactory()
    path = f"/orgs/{org.external_id}/memberships"
    MembershipRoleFactory(membership=MembershipFactory(organization=org))
    help_desk_api.get(path)  # the token's last use is recorded once a minute
    with CaptureQueriesContext(connection) as one:
        assert len(help_desk_api.get(path).json()["data"]) == 1
    for _ in range(10):
        MembershipRoleFactory(membership=MembershipFactory(organization=org))
    with CaptureQueriesContext(connection) as eleven:
        assert len(help_desk_api.get(path).json()["data"]) == 11
    assert len(eleven) == len(one)


def test_get_membership_names_what_is_missing(manager_api):
    membership = MembershipFactory()
    MembershipRoleFactory(membership=membership, slug="org-admin")
    org, user = membership.organization.external_id, membership.user.external_id
    assert manager_api.get(f"/orgs/{org}/users/{user}").json() == {
        "orgId": org,
        "userId": user,
        "roles": ["org-admin"],
        "status": "active",
    }
    assert_envelope(manager_api.get(f"/orgs/{org}/users/user_missing"), 404, "40405002")
    stranger = ProviderUserFactory()
    body = assert_envelope(
        manager_api.get(f"/orgs/{org}/users/{stranger.external_id}"), 404, "40405003"
    )
    assert body["meta"] == {"orgId": org, "userId": stranger.external_id}


def test_list_organization_roles(manager_api):
    role = OrganizationRoleFactory(slug="org-billing", name="Billing")
    OrganizationRoleFactory()  # another organization's
    body = manager_api.get(f"/orgs/{role.organization.external_id}/roles").json()
    assert body == {
        "data": [{"id": role.external_id, "slug": "org-billing", "name": "Billing"}],
        "nextCursor": None,
    }


def test_list_users_filters_by_email_org_and_status(manager_api):
    ada = ProviderUserFactory(email="Ada@Customer.example", first_name="Ada", last_name="L")
    bob = ProviderUserFactory(status=MirrorStatus.INACTIVE)
    membership = MembershipFactory(user=bob)
    ProviderUserFactory(removed_at=timezone.now())
    everyone = walk(manager_api, "/users", limit=1)
    assert [set(u) for u in everyone] == [USER_KEYS] * 2
    assert walk(manager_api, "/users", email="ada@customer.EXAMPLE") == [
        {
            "id": ada.external_id,
            "email": "Ada@Customer.example",
            "firstName": "Ada",
            "lastName": "L",
            "status": "active",
        }
    ]
    by_org = walk(manager_api, "/users", orgId=membership.organization.external_id)
    assert [u["id"] for u in by_org] == [bob.external_id]
    assert [u["id"] for u in walk(manager_api, "/users", status="inactive")] == [bob.external_id]


def test_get_user(manager_api):
    user = ProviderUserFactory()
    assert manager_api.get(f"/users/{user.external_id}").json()["email"] == user.email
    assert_envelope(manager_api.get("/users/user_missing"), 404, "40405002")


def test_list_and_get_reactivation_requests(help_desk, help_desk_api):
    membership = MembershipFactory(inactive=True)
    org = OrganizationFactory(status=MirrorStatus.INACTIVE)
    expires = timezone.now() + timedelta(hours=72)
    older = ReactivationRequest.objects.create(
        target_type=TargetType.MEMBERSHIP,
        membership=membership,
        requested_by=help_desk,
        reason="back from leave",
        expires_at=expires,
    )
    newer = ReactivationRequest.objects.create(
        target_type=TargetType.ORGANIZATION,
        organization=org,
        requested_by=help_desk,
        reason="paid",
        expires_at=expires,
    )
    listed = walk(help_desk_api, "/reactivation-requests", limit=1)
    assert [r["id"] for r in listed] == [newer.pk, older.pk]
    got = help_desk_api.get(f"/reactivation-requests/{older.pk}").json()
    assert got["orgId"] == membership.organization.external_id
    assert got["userId"] == membership.user.external_id
    assert got["requestedBy"] == help_desk.username
    assert got["status"] == "pending"
    assert got["decidedBy"] is None
    assert [
        r["id"] for r in walk(help_desk_api, "/reactivation-requests", targetType="organization")
    ] == [newer.pk]
    assert walk(help_desk_api, "/reactivation-requests", status="approved") == []
    assert_envelope(help_desk_api.get("/reactivation-requests/999999"), 404, "40406001")
    assert_envelope(help_desk_api.get("/reactivation-requests/0"), 422, "42200001")


def test_audit_events_newest_first_with_filters(auditor_api, manager):
    org = OrganizationFactory()
    before = AuditEvent.objects.count()  # issuing the fixtures' tokens is audited
    record_event(event_type="sync.started", outcome=Outcome.RECORDED)
    record_event(event_type="organization.reactivated", outcome=Outcome.FAILED, target=org)
    record_event(
        event_type="organization.reactivated", outcome=Outcome.SUCCEEDED, target=org, actor=manager
    )

    def sequences(**filters) -> list[int]:
        return [e["sequence"] - before for e in walk(auditor_api, "/audit-events", **filters)]

    assert sequences(limit=2) == list(range(3, -before, -1))
    events = walk(auditor_api, "/audit-events", action="organization.*")
    assert events[0]["actor"] == manager.username
    assert events[0]["orgId"] == org.external_id
    assert sequences(action="organization.*") == [3, 2]
    assert sequences(action="sync.started") == [1]
    assert sequences(action="sync") == []
    assert sequences(outcome="failed") == [2]
    assert sequences(actor=manager.username) == [3]
    assert sequences(orgId=org.external_id, action="sync.started") == []
    assert sequences(orgId=org.external_id) == [3, 2]
    assert sequences(via="api") == []
    future = (timezone.now() + timedelta(hours=1)).isoformat()
    assert sequences(since=future) == []
    assert len(sequences(until=future)) == before + 3


def test_audit_time_filters_need_a_time_zone(auditor_api):
    result = assert_envelope(
        auditor_api.get("/audit-events?since=2026-01-01T00:00:00"), 422, "42200001"
    )
    assert result["errors"][0]["pointer"] == "/since"


def test_audit_events_filter_by_person_email_or_id(auditor_api):
    person = ProviderUserFactory(email="Pat@Customer.example")
    event = record_event(event_type="user.activated", outcome=Outcome.SUCCEEDED, target=person)
    for value in ("pat@customer.example", person.external_id):
        found = walk(auditor_api, "/audit-events", person=value)
        assert [e["sequence"] for e in found] == [event.sequence]
        assert found[0]["userId"] == person.external_id

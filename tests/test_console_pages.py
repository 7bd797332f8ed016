"""Console read pages: who may see what, htmx fragments, and constant query counts."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts import selectors
from accounts.audit import record_event
from accounts.models import Outcome, ReactivationRequest, TargetType
from tests.factories import (
    MembershipFactory,
    MembershipRoleFactory,
    OrganizationFactory,
    OrganizationRoleFactory,
    ProviderUserFactory,
)

pytestmark = pytest.mark.django_db


ROLES = ["anonymous", "non_staff", "help_desk", "manager", "auditor"]


@pytest.fixture
def as_role(client, request):
    """Sign the test client in as one role (or not at all) and return the user."""

    def sign_in(role: str) -> User | None:
        if role == "anonymous":
            return None
        if role == "non_staff":
            user = User.objects.create_user("nina.customer", password="pw-for-tests-1")
        else:
            user = request.getfixturevalue(role)
        client.force_login(user)
        return user

    return sign_in


@pytest.fixture
def world(db):
    """An organization with members in every status, roles and some history."""
    org = OrganizationFactory(name="Acme Corp")
    person = ProviderUserFactory(email="dana.doe@acme.example", first_name="Dana", last_name="Doe")
    inactive = MembershipFactory(organization=org, user=person, inactive=True)
    MembershipRoleFactory(membership=inactive, slug="org-admin")
    OrganizationRoleFactory(organization=org, slug="org-admin", name="Admin")
    MembershipFactory(user=person)
    for _ in range(3):
        MembershipFactory(organization=org)
    record_event(event_type="membership.deactivated", outcome=Outcome.SUCCEEDED, target=inactive)
    return {"org": org, "person": person, "membership": inactive}


def page_urls(world) -> dict[str, str]:
    return {
        "find": reverse("console:find") + "?q=dana",
        "person": reverse("console:person", args=[world["person"].pk]),
        "organization": reverse("console:organization", args=[world["org"].pk]),
        "approvals": reverse("console:approvals"),
        "audit": reverse("console:audit"),
        "audit-event": reverse("console:audit-event", args=[1]),
        "audit-export-csv": reverse("console:audit-export-csv"),
        "sync": reverse("console:sync"),
    }


ALLOWED = {
    "find": {"help_desk", "manager", "auditor"},
    "person": {"help_desk", "manager", "auditor"},
    "organization": {"help_desk", "manager", "auditor"},
    "approvals": {"help_desk", "manager", "auditor"},
    "audit": {"manager", "auditor"},
    "audit-event": {"manager", "auditor"},
    "audit-export-csv": {"manager", "auditor"},
    "sync": {"help_desk", "manager", "auditor"},
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_page_permission_matrix(client, as_role, world, role, name):
    as_role(role)
    response = client.get(page_urls(world)[name])
    if role in {"anonymous", "non_staff"}:
        assert response.status_code == HTTPStatus.FOUND
        assert response["Location"].startswith(reverse("login"))
    elif role in ALLOWED[name]:
        assert response.status_code == HTTPStatus.OK
    else:
        assert response.status_code == HTTPStatus.FORBIDDEN


def test_landing_page_tells_a_newcomer_where_to_go(client):
    response = client.get("/")
    assert response.status_code == HTTPStatus.OK
    body = response.content.decode()
    assert reverse("login") in body
    assert "make demo" in body
    for login in ["helpdesk", "manager", "auditor"]:
        assert f"<strong>{login}</strong>" in body


def expire_sessions() -> None:
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))


def test_expired_session_under_htmx_redirects_the_page(client, help_desk, world):
    url = page_urls(world)["person"]
    client.force_login(help_desk)
    assert client.get(url, headers={"HX-Request": "true"}).status_code == HTTPStatus.OK
    expire_sessions()
    response = client.get(
        url,
        {"part": "history"},
        headers={"HX-Request": "true", "HX-Current-URL": f"http://testserver{url}"},
    )
    assert response.status_code == HTTPStatus.OK
    login = reverse("login")
    assert response["HX-Redirect"] == f"{login}?next={url.replace('/', '%2F')}&expired=1"
    assert b"<form" not in response.content
    assert b"password" not in response.content


def test_expired_session_on_an_htmx_post_redirects_too(client, help_desk, world):
    client.force_login(help_desk)
    expire_sessions()
    url = reverse("console:membership-request", args=[world["membership"].pk])
    response = client.post(url, {"reason": "x"}, headers={"HX-Request": "true"})
    assert response["HX-Redirect"].startswith(reverse("login"))
    assert not ReactivationRequest.objects.exists()


def test_expired_session_without_htmx_redirects_to_sign_in(client, help_desk, world):
    client.force_login(help_desk)
    expire_sessions()
    response = client.get(page_urls(world)["person"])
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith(reverse("login"))


def test_header_shows_who_role_provider_and_badge(client, help_desk, world):
    client.force_login(help_desk)
    body = client.get(reverse("console:find")).content.decode()
    assert help_desk.get_username() in body
    assert "Help desk" in body
    assert "Provider:" in body
    assert 'id="approvals-link"' in body
    assert 'hx-trigger="every 30s' in body
    assert "Last sync:" in body


def test_pages_load_htmx_from_our_static_files_with_a_nonce(client, help_desk):
    client.force_login(help_desk)
    response = client.get(reverse("console:find"))
    body = response.content.decode()
    policy = response["Content-Security-Policy"]
    assert "/static/vendor/htmx.min.js" in body
    nonce = policy.split("'nonce-")[1].split("'")[0]
    assert f'nonce="{nonce}"' in body
    assert "style-src 'self'" in policy
    assert 'hx-headers=\'{"X-CSRFToken"' in body
    assert ' style="' not in body


def test_find_matches_email_prefix_name_id_and_org(client, help_desk, world):
    client.force_login(help_desk)
    person, org = world["person"], world["org"]
    for query in ["DANA.d", "doe", "dana doe", person.external_id]:
        body = client.get(reverse("console:find"), {"q": query}).content.decode()
        assert reverse("console:person", args=[person.pk]) in body, query
    for query in ["acme", org.external_id]:
        body = client.get(reverse("console:find"), {"q": query}).content.decode()
        assert reverse("console:organization", args=[org.pk]) in body, query


def test_find_under_htmx_returns_only_the_results_fragment(client, help_desk, world):
    client.force_login(help_desk)
    response = client.get(reverse("console:find"), {"q": "dana"}, headers={"HX-Request": "true"})
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="results"')
    assert "<html" not in body
    assert "HX-Request" in response["Vary"]
    assert "badge-off" in body or "badge-ok" in body


def test_find_ignores_short_and_strange_queries(client, help_desk, world):
    client.force_login(help_desk)
    for query in ["d", "%", "_" * 500, "\x00abc", "' OR 1=1 --"]:
        response = client.get(reverse("console:find"), {"q": query})
        assert response.status_code == HTTPStatus.OK


def test_person_page_shows_memberships_roles_and_history(client, help_desk, world):
    client.force_login(help_desk)
    body = client.get(page_urls(world)["person"]).content.decode()
    assert "Acme Corp" in body
    assert "org-admin" in body
    assert "Dana Doe&#x27;s access to Acme Corp was removed by" in body  # plain words
    assert "Request reactivation" in body
    assert "Reactivate now" not in body
    assert "Edit roles" not in body


def test_person_page_offers_manager_actions(client, manager, world):
    client.force_login(manager)
    body = client.get(page_urls(world)["person"]).content.decode()
    assert "Reactivate now" in body
    assert "Edit roles" in body
    assert "Deactivate" in body
    assert "Request reactivation" not in body


def test_auditor_sees_no_actions(client, auditor, world):
    client.force_login(auditor)
    body = client.get(page_urls(world)["person"]).content.decode()
    for label in ["Reactivate now", "Request reactivation", "Edit roles", "Deactivate", "Refresh"]:
        assert label not in body


def test_person_history_fragment(client, help_desk, world):
    client.force_login(help_desk)
    response = client.get(
        page_urls(world)["person"], {"part": "history"}, headers={"HX-Request": "true"}
    )
    assert response.content.decode().lstrip().startswith('<section id="history"')


def test_open_request_replaces_the_request_form(client, help_desk, world):
    ReactivationRequest.objects.create(
        target_type=TargetType.MEMBERSHIP,
        membership=world["membership"],
        requested_by=help_desk,
        reason="customer asked",
        expires_at="2099-01-01T00:00:00Z",
    )
    client.force_login(help_desk)
    body = client.get(page_urls(world)["person"]).content.decode()
    assert "Reactivation pending" in body
    assert "Request reactivation" not in body


def test_organization_members_filter_by_status_and_role(client, help_desk, world):
    client.force_login(help_desk)
    url = page_urls(world)["organization"]
    response = client.get(
        url, {"part": "members", "role": "org-admin"}, headers={"HX-Request": "true"}
    )
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="members"')
    assert "dana.doe@acme.example" in body
    assert body.count("data-member=") == 1
    body = client.get(url, {"status": "active"}).content.decode()
    assert "dana.doe@acme.example" not in body
    bad_inputs = [
        {"status": "bogus", "after": "x"},
        {"role": "org-\x00"},
        {"before": "-1"},
        {"after": "\u00b2"},
        {"after": "9" * 40},
    ]
    for bad in bad_inputs:
        assert client.get(url, bad).status_code == HTTPStatus.OK


def test_organization_members_are_paginated(client, help_desk, world):
    for _ in range(30):
        MembershipFactory(organization=world["org"])
    client.force_login(help_desk)
    url = page_urls(world)["organization"]
    body = client.get(url).content.decode()
    assert re.search(r'id="members-title">Members <span class="muted">\((\d+)\)', body)[1] == "34"
    assert "← Previous" not in body
    forward, query = [], _link(body, "Next →")
    while query:
        body = client.get(f"{url}?{query}").content.decode()
        forward.append(_member_ids(body))
        query = _link(body, "Next →")
    first = _member_ids(client.get(url).content.decode())
    assert len(first) == 25
    assert [len(ids) for ids in forward] == [9]
    everyone = first + forward[0]
    assert len(set(everyone)) == 34
    assert everyone == sorted(everyone)
    back = client.get(f"{url}?{_link(body, '← Previous')}").content.decode()
    assert _member_ids(back) == first


def test_member_pages_keep_filters_and_cap_the_count(help_desk, world):
    org = world["org"]
    for _ in range(4):
        MembershipRoleFactory(membership=MembershipFactory(organization=org), slug="org-admin")
    members = selectors.organization_members(org, role="org-admin")
    page = selectors.members_page(members, size=2, cap=3)
    assert (page.count, page.count_capped, page.previous_cursor) == (3, True, None)
    rest = selectors.members_page(members, after=page.next_cursor, size=2, cap=3)
    tail = selectors.members_page(members, after=rest.next_cursor, size=2, cap=3)
    shown = [m.pk for p in (page, rest, tail) for m in p.members]
    assert shown == sorted(members.values_list("pk", flat=True))
    assert len(shown) == 5
    assert tail.next_cursor is None
    assert not tail.first_page
    assert selectors.members_page(members, cap=10).count == 5


def _link(body: str, label: str) -> str:
    found = re.search(r'href="\?([^"]*)"[^>]*>' + re.escape(label), body)
    return html.unescape(found.group(1)) if found else ""


def _member_ids(body: str) -> list[int]:
    section = body[body.index('<section id="members"') :]
    section = section[: section.index("</section>")]
    return [int(pk) for pk in re.findall(r'data-member="(\d+)"', section)]


def _make_members(org, count: int) -> None:
    for _ in range(count):
        membership = MembershipFactory(organization=org)
        MembershipRoleFactory(membership=membership, slug="org-admin")
        record_event(event_type="membership.synced", outcome=Outcome.RECORDED, target=membership)


def _make_person_memberships(person, count: int) -> None:
    for _ in range(count):
        membership = MembershipFactory(user=person, inactive=True)
        MembershipRoleFactory(membership=membership)
        OrganizationRoleFactory(organization=membership.organization)
        record_event(event_type="membership.synced", outcome=Outcome.RECORDED, target=membership)


def _count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == HTTPStatus.OK
    return len(captured)


ROW_MARKERS = {
    "person": (b'class="card membership"', 30),
    "organization": (b'data-label="Person"', 25),
    "find": (b'class="result-link"', 20),
    "audit": (b'data-label="Action"', 50),
    "approvals": (b'<article class="card"', 30),
}


@pytest.mark.parametrize("page", sorted(ROW_MARKERS))
def test_query_count_does_not_grow_with_rows(
    client, manager, help_desk, page, django_assert_num_queries
):
    client.force_login(manager)
    person = ProviderUserFactory(email="query.counter@acme.example")
    org = OrganizationFactory(name="Query Corp")
    urls = {
        "person": reverse("console:person", args=[person.pk]),
        "organization": reverse("console:organization", args=[org.pk]),
        "find": reverse("console:find") + "?q=person",
        "audit": reverse("console:audit"),
        "approvals": reverse("console:approvals"),
    }

    def grow(count: int) -> None:
        _make_person_memberships(person, count)
        _make_members(org, count)
        for _ in range(count):
            membership = MembershipFactory(inactive=True)
            ReactivationRequest.objects.create(
                target_type=TargetType.MEMBERSHIP,
                membership=membership,
                requested_by=help_desk,
                reason="please",
                expires_at="2099-01-01T00:00:00Z",
            )

    grow(3)
    client.get(urls[page])  # warm the provider-status cache
    small = _count_queries(client, urls[page])
    grow(27)
    with django_assert_num_queries(small):
        response = client.get(urls[page])
    assert response.status_code == HTTPStatus.OK
    marker, shown = ROW_MARKERS[page]
    assert response.content.count(marker) >= shown


def test_only_staff_can_sign_in(client, help_desk):
    User.objects.create_user("nina.customer", password="pw-for-tests-1")
    refused = client.post(
        reverse("login"), {"username": "nina.customer", "password": "pw-for-tests-1"}
    )
    assert refused.status_code == HTTPStatus.OK
    assert "not a staff account" in refused.content.decode()
    assert "_auth_user_id" not in client.session
    allowed = client.post(
        reverse("login"), {"username": help_desk.username, "password": "pw-for-tests-1"}
    )
    assert allowed.status_code == HTTPStatus.FOUND
    assert allowed["Location"] == reverse("console:home")


@pytest.mark.parametrize(
    ("who", "label"),
    [
        ("help_desk", "Help desk"),
        ("manager", "Manager"),
        ("auditor", "Auditor"),
        ("no_role", "Staff"),
        ("superuser", "Superuser"),
    ],
)
def test_header_names_the_role_the_staff_member_acts_in(request, client, who, label):
    if who == "no_role":
        user = User.objects.create_user("nora.norole", is_staff=True)
    elif who == "superuser":
        user = User.objects.create_superuser("sam.super", "sam@karmo.example", "pw-for-tests-1")
    else:
        user = request.getfixturevalue(who)
    client.force_login(user)
    page = client.get(reverse("console:approvals")).content.decode()
    assert f'<span class="role-chip">{label}</span>' in page


def test_find_says_what_an_empty_search_looked_for(client, help_desk):
    client.force_login(help_desk)
    short = client.get(reverse("console:find"), {"q": "zq"}).content.decode()
    assert "Nothing starts with “zq”. Type a third character" in short
    longer = client.get(reverse("console:find"), {"q": "zqx"}).content.decode()
    assert "Nothing matches “zqx” in an email, a name, a domain" in longer

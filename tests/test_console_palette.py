"""The command palette's endpoint: scoped like Find, pages only for those who may open them."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from accounts.models import StaffScope
from tests.factories import MembershipFactory, OrganizationFactory, ProviderUserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_customers(db) -> dict:
    acme = OrganizationFactory(name="Zephyr Acme", external_id="org_zephyr_acme")
    wayne = OrganizationFactory(name="Zephyr Wayne", external_id="org_zephyr_wayne")
    inside = ProviderUserFactory(
        email="zed.inside@acme.example", first_name="Zed", last_name="Inside"
    )
    outside = ProviderUserFactory(
        email="zed.outside@wayne.example", first_name="Zed", last_name="Outside"
    )
    MembershipFactory(organization=acme, user=inside)
    MembershipFactory(organization=wayne, user=outside)
    return {"acme": acme, "wayne": wayne, "inside": inside, "outside": outside}


def offered(client, user: User, text: str) -> list[tuple[str, str]]:
    client.force_login(user)
    response = client.get("/palette/", {"q": text})
    assert response.status_code == 200
    return [(item["kind"], item["label"]) for item in response.json()["items"]]


def test_a_scoped_user_is_never_offered_names_outside_their_scope(client, help_desk, two_customers):
    StaffScope.objects.create(user=help_desk).organizations.set([two_customers["acme"]])
    found = offered(client, help_desk, "zephyr")
    assert ("Organization", "Zephyr Acme") in found
    assert ("Organization", "Zephyr Wayne") not in found
    people = offered(client, help_desk, "zed.")
    assert ("Person", "Zed Inside") in people
    assert all("Outside" not in label for _, label in people)


def test_unscoped_staff_see_both_and_pages_follow_permissions(
    client, help_desk, auditor, two_customers
):
    found = offered(client, help_desk, "zephyr")
    assert {("Organization", "Zephyr Acme"), ("Organization", "Zephyr Wayne")} <= set(found)
    assert ("Page", "Audit log") not in offered(client, help_desk, "audit")
    assert ("Page", "Audit log") in offered(client, auditor, "audit")


def test_anonymous_callers_are_sent_to_sign_in(client):
    response = client.get("/palette/", {"q": "zephyr"})
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")

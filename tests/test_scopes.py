"""Staff scopes: who sees and acts on which organizations, decided in accounts.scopes alone."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse

from accounts import approvals, scopes, services
from accounts.audit import record_event
from accounts.errors import ErrorCode, KarmoError
from accounts.models import (
    AuditEvent,
    MirrorStatus,
    Organization,
    OrganizationMembership,
    Outcome,
    ProviderUser,
    StaffScope,
)
from accounts.permissions import MANAGER
from tests.factories import MembershipFactory, OrganizationFactory, ProviderUserFactory
from tests.fixtures.app_provider import memberships_in
from tests.fixtures.audit import assert_audited
from tests.test_api.conftest import ApiClient, assert_envelope, make_token

pytestmark = pytest.mark.django_db


def give(holder: User | Group, *orgs: Organization, **rules) -> StaffScope:
    """A scope for a user or group: these organizations and rules."""
    key = "group" if isinstance(holder, Group) else "user"
    scope = StaffScope.objects.create(**{key: holder}, **rules)
    scope.organizations.set(orgs)
    return scope


def fresh(user: User) -> User:
    """The user re-read, so nothing cached on the old object is used."""
    return User.objects.get(pk=user.pk)


@pytest.fixture
def world(db):
    """Two customers: Acme (two orgs) and Wayne Retail; Pat belongs to Acme and Wayne."""
    acme = OrganizationFactory(name="Acme Europe", external_id="org_acme_eu")
    acme_us = OrganizationFactory(name="ACME US", external_id="org_acme_us")
    wayne = OrganizationFactory(name="Wayne Retail", external_id="org_wayne")
    pat = ProviderUserFactory(email="pat@both.example")
    only_wayne = ProviderUserFactory(email="bruce@wayne.example")
    MembershipFactory(organization=acme, user=pat)
    MembershipFactory(organization=wayne, user=pat)
    MembershipFactory(organization=wayne, user=only_wayne)
    return {"acme": acme, "acme_us": acme_us, "wayne": wayne, "pat": pat, "bruce": only_wayne}


def visible(user: User, model) -> set:
    return set(scopes.scoped(fresh(user), model.objects.all()))


def test_a_scope_is_chosen_orgs_plus_rules_plus_group_scopes(world, manager):
    give(manager, world["acme"])
    assert visible(manager, Organization) == {world["acme"]}
    StaffScope.objects.filter(user=manager).update(name_pattern="^acme")
    assert visible(manager, Organization) == {world["acme"], world["acme_us"]}
    give(Group.objects.get(name=MANAGER), id_pattern="wayne$")
    assert visible(manager, Organization) == {world["acme"], world["acme_us"], world["wayne"]}


def test_all_organizations_default_and_superusers(world, manager, help_desk, settings):
    everything = set(Organization.objects.all())
    assert visible(help_desk, Organization) == everything
    settings.KARMO_DEFAULT_SCOPE = "none"
    assert visible(help_desk, Organization) == set()
    give(help_desk, all_organizations=True)
    assert visible(help_desk, Organization) == everything
    boss = User.objects.create_superuser("root", "root@karmo.example", "pw-for-tests-1")
    assert visible(boss, Organization) == everything


def test_people_and_memberships_follow_their_organizations(world, help_desk):
    give(help_desk, world["acme"])
    assert visible(help_desk, ProviderUser) == {world["pat"]}
    memberships = visible(help_desk, OrganizationMembership)
    assert {m.organization for m in memberships} == {world["acme"]}


def test_audit_events_are_scoped_by_organization_and_person(world, auditor):
    for target in (world["acme"], world["wayne"], world["pat"], world["bruce"]):
        record_event(event_type="test.seen", outcome=Outcome.RECORDED, target=target)
    give(auditor, world["acme"])
    seen = {e.target_id for e in scopes.scoped(fresh(auditor), AuditEvent.objects.all())}
    assert seen == {"org_acme_eu", world["pat"].external_id}


def test_a_bad_rule_is_refused_by_the_model(manager):
    scope = StaffScope(user=manager, name_pattern="(unclosed")
    with pytest.raises(Exception, match="Not a regular expression"):
        scope.full_clean()


@pytest.mark.django_db(transaction=True)
def test_services_answer_out_of_scope_targets_as_missing_and_call_no_provider(
    mirrored, manager, help_desk, workos_emulator
):
    inactive = memberships_in(MirrorStatus.INACTIVE)
    outside, inside = (
        inactive[0],
        next(m for m in inactive if m.organization_id != inactive[0].organization_id),
    )
    give(manager, inside.organization)
    give(help_desk, inside.organization)
    scoped_manager = fresh(manager)
    calls = workos_emulator.app.request_count
    cases = [
        lambda: services.reactivate_membership(actor=scoped_manager, membership=outside),
        lambda: services.set_membership_roles(
            actor=scoped_manager, membership=outside, roles=["member"]
        ),
        lambda: services.upsert_organization_role(
            actor=scoped_manager, organization=outside.organization, slug="org-x", name="X"
        ),
        lambda: services.refresh_organization(
            actor=scoped_manager, organization=outside.organization
        ),
    ]
    codes = []
    for run in cases:
        with pytest.raises(KarmoError) as caught:
            run()
        codes.append(caught.value.code)
    assert codes == [
        ErrorCode.MEMBERSHIP_NOT_FOUND,
        ErrorCode.MEMBERSHIP_NOT_FOUND,
        ErrorCode.ORGANIZATION_NOT_FOUND,
        ErrorCode.ORGANIZATION_NOT_FOUND,
    ]
    assert workos_emulator.app.request_count == calls
    denial = assert_audited("membership.reactivated", target=outside, outcome=Outcome.DENIED)
    assert denial.data["out_of_scope"] is True
    # Requests and approvals: both must be inside the decider's scope.
    request = approvals.request_reactivation(
        actor=fresh(help_desk), target=inside, reason="customer called"
    )
    with pytest.raises(KarmoError) as caught:
        approvals.request_reactivation(actor=fresh(help_desk), target=outside, reason="x")
    assert caught.value.code is ErrorCode.MEMBERSHIP_NOT_FOUND
    StaffScope.objects.get(user=manager).organizations.set([outside.organization])
    narrow = fresh(manager)
    with pytest.raises(KarmoError) as caught:
        approvals.approve_request(actor=narrow, request=request)
    assert caught.value.code is ErrorCode.REQUEST_NOT_FOUND
    StaffScope.objects.get(user=manager).organizations.set([inside.organization])
    done = approvals.approve_request(actor=fresh(manager), request=request)
    assert done.status == "executed"


def test_an_api_token_acts_with_its_users_scope(world, help_desk):
    give(help_desk, world["acme"])
    api = ApiClient(make_token(help_desk))
    pat, bruce = world["pat"].external_id, world["bruce"].external_id
    assert [o["id"] for o in api.get("/orgs").json()["data"]] == ["org_acme_eu"]
    assert api.get("/orgs/org_acme_eu").status_code == 200
    assert_envelope(api.get("/orgs/org_wayne"), 404, ErrorCode.ORGANIZATION_NOT_FOUND.code)
    assert [u["id"] for u in api.get("/users").json()["data"]] == [pat]
    assert api.get("/users?orgId=org_wayne").json()["data"] == []
    assert_envelope(api.get(f"/users/{bruce}"), 404, ErrorCode.USER_NOT_FOUND.code)
    assert api.get(f"/orgs/org_acme_eu/users/{pat}").status_code == 200
    assert_envelope(
        api.get(f"/orgs/org_wayne/users/{pat}"), 404, ErrorCode.ORGANIZATION_NOT_FOUND.code
    )
    assert_envelope(
        api.get("/orgs/org_wayne/memberships"), 404, ErrorCode.ORGANIZATION_NOT_FOUND.code
    )


def test_superusers_manage_scopes_in_the_admin_and_each_change_is_audited(world, client, manager):
    boss = User.objects.create_superuser("root", "root@karmo.example", "pw-for-tests-1")
    client.force_login(boss)
    form = {
        "user": manager.pk,
        "organizations": [world["acme"].pk],
        "name_pattern": "^acme",
        "id_pattern": "",
    }
    response = client.post(reverse("admin:accounts_staffscope_add"), form)
    assert response.status_code == 302, response.content.decode()[:2000]
    scope = StaffScope.objects.get(user=manager)
    created = assert_audited("scope.created", target=scope, actor=boss)
    assert created.after["organizations"] == ["org_acme_eu"]
    assert created.after["name_pattern"] == "^acme"
    bad = client.post(
        reverse("admin:accounts_staffscope_change", args=[scope.pk]),
        {**form, "name_pattern": "(oops"},
    )
    assert "Not a regular expression" in bad.content.decode()
    client.post(
        reverse("admin:accounts_staffscope_change", args=[scope.pk]),
        {**form, "organizations": [world["wayne"].pk], "name_pattern": ""},
    )
    changed = assert_audited("scope.changed", target=scope)
    assert changed.before["organizations"] == ["org_acme_eu"]
    assert changed.after["organizations"] == ["org_wayne"]
    client.post(reverse("admin:accounts_staffscope_delete", args=[scope.pk]), {"post": "yes"})
    assert not StaffScope.objects.exists()
    assert_audited("scope.deleted", before__organizations=["org_wayne"])
    client.force_login(manager)
    assert client.get(reverse("admin:accounts_staffscope_changelist")).status_code == 403


def test_admin_lists_only_rows_in_scope(world, client, manager):
    manager.is_staff = True
    manager.save()
    give(manager, world["acme"])
    client.force_login(manager)
    body = client.get(reverse("admin:accounts_organization_changelist")).content.decode()
    assert "Acme Europe" in body
    assert "Wayne Retail" not in body
    assert "1 organization" in body
    people = client.get(reverse("admin:accounts_provideruser_changelist")).content.decode()
    assert "pat@both.example" in people
    assert "bruce@wayne.example" not in people
    missing = client.get(reverse("admin:accounts_organization_change", args=[world["wayne"].pk]))
    assert missing.status_code == 302  # the admin's "does not exist" redirect, as for a bad id


def test_a_new_request_is_emailed_only_to_managers_whose_scope_holds_it(
    world, help_desk, manager, other_manager, mailoutbox, django_capture_on_commit_callbacks
):
    give(manager, world["wayne"])
    give(other_manager, world["acme"])
    inside = OrganizationMembership.objects.get(organization=world["acme"], user=world["pat"])
    inside.status = MirrorStatus.INACTIVE
    inside.save()
    with django_capture_on_commit_callbacks(execute=True):
        approvals.request_reactivation(
            actor=fresh(help_desk), target=inside, reason="customer called"
        )
    assert [message.to for message in mailoutbox] == [[other_manager.email]]

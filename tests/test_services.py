"""The service layer against the WorkOS emulator: checks, provider calls, mirror and audit."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser, User

from accounts import services
from accounts.errors import ErrorCode, KarmoError
from accounts.models import (
    AuditEvent,
    MirrorStatus,
    Organization,
    OrganizationMembership,
    OrganizationRole,
    Outcome,
    ProviderUser,
)
from tests.factories import MembershipFactory, OrganizationFactory, ProviderUserFactory
from tests.fixtures.app_provider import membership_in
from tests.fixtures.audit import assert_audited

pytestmark = pytest.mark.django_db(transaction=True)


def requests_made(emulator) -> int:
    return emulator.app.request_count


def test_manager_reactivates_membership_at_provider_and_in_mirror(
    mirrored, manager, workos_emulator
):
    target = membership_in(MirrorStatus.INACTIVE)
    change = services.reactivate_membership(actor=manager, membership=target, reason="back")
    assert change.changed
    assert change.target.status == MirrorStatus.ACTIVE
    assert mirrored.get_membership(target.external_id).status == "active"
    target.refresh_from_db()
    assert target.status == MirrorStatus.ACTIVE
    attempt = assert_audited("membership.reactivated", target=target, outcome=Outcome.ATTEMPTED)
    outcome = assert_audited("membership.reactivated", target=target, outcome=Outcome.SUCCEEDED)
    assert attempt.correlation_id == outcome.correlation_id == change.correlation_id
    assert outcome.before["status"] == "inactive"
    assert outcome.after["status"] == "active"
    assert outcome.after["roles"] == outcome.before["roles"]
    assert outcome.provider_request_id.startswith("req-")
    assert outcome.data["direct"] is True
    assert outcome.data["attempt"] == attempt.sequence
    assert outcome.reason == "back"
    assert outcome.actor == manager


def test_reactivating_an_active_membership_is_a_recorded_noop(mirrored, manager, workos_emulator):
    target = membership_in(MirrorStatus.ACTIVE)
    before = requests_made(workos_emulator)
    change = services.reactivate_membership(actor=manager, membership=target)
    assert not change.changed
    assert requests_made(workos_emulator) == before
    assert_audited("membership.reactivated", target=target, outcome=Outcome.NOOP)
    assert not AuditEvent.objects.filter(outcome=Outcome.ATTEMPTED).exists()


@pytest.mark.django_db
def test_help_desk_must_request_reactivation(mirrored, help_desk, workos_emulator):
    target = membership_in(MirrorStatus.INACTIVE)
    before = requests_made(workos_emulator)
    with pytest.raises(KarmoError) as caught:
        services.reactivate_membership(actor=help_desk, membership=target, reason="please")
    assert caught.value.code is ErrorCode.APPROVAL_REQUIRED
    assert requests_made(workos_emulator) == before
    event = assert_audited("membership.reactivated", target=target, outcome=Outcome.DENIED)
    assert event.error_code == ErrorCode.APPROVAL_REQUIRED.code
    assert event.actor == help_desk


@pytest.mark.django_db
def test_pending_membership_cannot_be_reactivated(mirrored, manager):
    target = membership_in(MirrorStatus.PENDING)
    with pytest.raises(KarmoError) as caught:
        services.reactivate_membership(actor=manager, membership=target)
    assert caught.value.code is ErrorCode.PENDING_CANNOT_REACTIVATE
    assert_audited("membership.reactivated", target=target, outcome=Outcome.DENIED)


def test_provider_refusal_of_a_stale_pending_membership_keeps_the_mirror(mirrored, manager):
    target = membership_in(MirrorStatus.PENDING)
    OrganizationMembership.objects.filter(pk=target.pk).update(status=MirrorStatus.INACTIVE)
    target.refresh_from_db()
    with pytest.raises(KarmoError) as caught:
        services.reactivate_membership(actor=manager, membership=target)
    assert caught.value.code is ErrorCode.PENDING_CANNOT_REACTIVATE
    target.refresh_from_db()
    assert target.status == MirrorStatus.INACTIVE
    event = assert_audited("membership.reactivated", target=target, outcome=Outcome.FAILED)
    assert event.error_code == ErrorCode.PENDING_CANNOT_REACTIVATE.code
    assert event.provider_request_id


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ({"fail": [400]}, ErrorCode.PROVIDER_REJECTED),
        ({"fail": [401]}, ErrorCode.PROVIDER_AUTH_FAILED),
        ({"fail": [404]}, ErrorCode.PROVIDER_NOT_FOUND),
        ({"fail": [409]}, ErrorCode.PROVIDER_CONFLICT),
        ({"fail": [429]}, ErrorCode.PROVIDER_RATE_LIMITED),
        ({"fail": [503]}, ErrorCode.PROVIDER_UNAVAILABLE),
        ({"drop": 1}, ErrorCode.PROVIDER_UNAVAILABLE),
        ({"bad_json": 1}, ErrorCode.PROVIDER_UNREADABLE),
    ],
)
def test_provider_failure_leaves_mirror_and_records_failed_outcome(
    mirrored, manager, workos_emulator, fault, code
):
    target = membership_in(MirrorStatus.ACTIVE)
    before = OrganizationMembership.objects.get(pk=target.pk)
    workos_emulator.app.faults.configure(fault)
    with pytest.raises(KarmoError) as caught:
        services.deactivate_membership(actor=manager, membership=target, reason="left")
    assert caught.value.code is code
    after = OrganizationMembership.objects.get(pk=target.pk)
    assert (after.status, after.updated_at) == (before.status, before.updated_at)
    attempt = assert_audited("membership.deactivated", target=target, outcome=Outcome.ATTEMPTED)
    failed = assert_audited("membership.deactivated", target=target, outcome=Outcome.FAILED)
    assert failed.error_code == code.code
    assert failed.correlation_id == attempt.correlation_id
    assert failed.data["attempt"] == attempt.sequence


@pytest.mark.parametrize("answered", [0, 1])
def test_an_answer_of_another_shape_is_a_failed_outcome_not_a_crash(
    zitadel_mirrored, manager, zitadel_emulator, answered
):
    """ZITADEL's deactivation reads the authorization and its user before it writes: when
    either answer is `[]`, the change fails as unreadable and its failure is audited."""
    target = membership_in(MirrorStatus.ACTIVE)
    before = OrganizationMembership.objects.get(pk=target.pk)
    zitadel_emulator.app.faults.configure({"not_object": 1, "not_object_after": answered})
    with pytest.raises(KarmoError) as caught:
        services.deactivate_membership(actor=manager, membership=target, reason="left")
    assert caught.value.code is ErrorCode.PROVIDER_UNREADABLE
    assert "zitadel sent an unreadable" in caught.value.message
    after = OrganizationMembership.objects.get(pk=target.pk)
    assert (after.status, after.updated_at) == (before.status, before.updated_at)
    failed = assert_audited("membership.deactivated", target=target, outcome=Outcome.FAILED)
    assert failed.error_code == ErrorCode.PROVIDER_UNREADABLE.code


def test_unconfigured_provider_is_a_failed_outcome(mirrored, manager, settings):
    settings.WORKOS_API_KEY = ""
    target = membership_in(MirrorStatus.ACTIVE)
    with pytest.raises(KarmoError) as caught:
        services.deactivate_membership(actor=manager, membership=target)
    assert caught.value.code is ErrorCode.PROVIDER_NOT_CONFIGURED
    event = assert_audited("membership.deactivated", target=target, outcome=Outcome.FAILED)
    assert event.error_code == ErrorCode.PROVIDER_NOT_CONFIGURED.code


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("operation", "model", "status"),
    [
        (services.activate_user, ProviderUser, MirrorStatus.INACTIVE),
        (services.deactivate_user, ProviderUser, MirrorStatus.ACTIVE),
        (services.reactivate_organization, Organization, MirrorStatus.INACTIVE),
        (services.deactivate_organization, Organization, MirrorStatus.ACTIVE),
    ],
)
def test_operation_workos_lacks_is_refused_as_unsupported(
    app_provider, manager, workos_emulator, operation, model, status
):
    if model is ProviderUser:
        target = ProviderUserFactory(provider="workos", status=status)
        kwargs = {"user": target}
    else:
        target = OrganizationFactory(provider="workos", status=status)
        kwargs = {"organization": target}
    before = requests_made(workos_emulator)
    with pytest.raises(KarmoError) as caught:
        operation(actor=manager, **kwargs)
    assert caught.value.code is ErrorCode.UNSUPPORTED_BY_PROVIDER
    assert requests_made(workos_emulator) == before
    # The one event besides the staff fixture's own account events (staff.*).
    event = AuditEvent.objects.exclude(event_type__startswith="staff.").get()
    assert (event.outcome, event.error_code) == (Outcome.FAILED, caught.value.code.code)


def test_manager_creates_and_renames_an_organization_role(mirrored, manager):
    org = Organization.objects.filter(status=MirrorStatus.ACTIVE).order_by("name").first()
    created = services.upsert_organization_role(
        actor=manager, organization=org, slug="org-support", name="  Support  "
    )
    role = created.target
    assert (role.slug, role.name, role.organization) == ("org-support", "Support", org)
    assert any(r.slug == "org-support" for r in mirrored.list_roles())
    event = assert_audited("role.upserted", outcome=Outcome.SUCCEEDED)
    assert event.before is None
    assert event.after["slug"] == "org-support"

    renamed = services.upsert_organization_role(
        actor=manager, organization=org, slug="org-support", name="Support desk"
    )
    assert renamed.changed
    assert OrganizationRole.objects.get(pk=role.pk).name == "Support desk"
    again = services.upsert_organization_role(
        actor=manager, organization=org, slug="org-support", name="Support desk"
    )
    assert not again.changed
    assert_audited("role.upserted", outcome=Outcome.NOOP)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("slug", "name", "code", "pointers"),
    [
        ("support", "Support", ErrorCode.INVALID_ROLE_SLUG, ["/slug"]),
        ("org-Support", "Support", ErrorCode.INVALID_ROLE_SLUG, ["/slug"]),
        ("org-", "Support", ErrorCode.INVALID_ROLE_SLUG, ["/slug"]),
        ("org-" + "x" * 45, "Support", ErrorCode.INVALID_ROLE_SLUG, ["/slug"]),
        ("org-ok", "   ", ErrorCode.INVALID_ROLE_NAME, ["/name"]),
        ("org-ok", "n" * 49, ErrorCode.INVALID_ROLE_NAME, ["/name"]),
        ("bad slug", "", ErrorCode.VALIDATION_FAILED, ["/slug", "/name"]),
    ],
)
def test_invalid_role_input_is_refused_and_audited(
    app_provider, manager, workos_emulator, slug, name, code, pointers
):
    org = OrganizationFactory(provider="workos")
    before = requests_made(workos_emulator)
    with pytest.raises(KarmoError) as caught:
        services.upsert_organization_role(actor=manager, organization=org, slug=slug, name=name)
    assert caught.value.code is code
    assert [e.pointer for e in caught.value.errors] == pointers
    assert requests_made(workos_emulator) == before
    event = assert_audited("role.upserted", target=org, outcome=Outcome.DENIED)
    assert event.error_code == code.code


def test_set_membership_roles_replaces_roles_at_provider_and_in_mirror(mirrored, manager):
    target = membership_in(MirrorStatus.ACTIVE)
    change = services.set_membership_roles(
        actor=manager, membership=target, roles=["org-billing", "member", "org-billing"]
    )
    assert change.changed
    assert target.role_slugs == ["member", "org-billing"]
    assert set(mirrored.get_membership(target.external_id).roles) == {"member", "org-billing"}
    event = assert_audited("membership.roles_set", target=target, outcome=Outcome.SUCCEEDED)
    assert event.after["roles"] == ["member", "org-billing"]


def test_unknown_role_is_refused_with_a_pointer(mirrored, manager, workos_emulator):
    target = membership_in(MirrorStatus.ACTIVE)
    OrganizationRole.objects.create(
        provider="workos",
        external_id="role_elsewhere",
        organization=OrganizationFactory(provider="workos"),
        slug="org-elsewhere",
        name="Elsewhere",
    )
    before = requests_made(workos_emulator)
    with pytest.raises(KarmoError) as caught:
        services.set_membership_roles(
            actor=manager, membership=target, roles=["member", "org-elsewhere", "org-nope"]
        )
    assert caught.value.code is ErrorCode.UNKNOWN_ROLE
    assert [e.pointer for e in caught.value.errors] == ["/roles/1", "/roles/2"]
    assert requests_made(workos_emulator) == before
    assert_audited("membership.roles_set", target=target, outcome=Outcome.DENIED)


def test_create_user_mirrors_the_new_user(mirrored, manager):
    change = services.create_user(
        actor=manager, email="new.person@acme-logistics.example", first_name="New"
    )
    user = change.target
    assert user.external_id.startswith("user_")
    assert user.provider == "workos"
    assert mirrored.get_user(user.external_id).email == "new.person@acme-logistics.example"
    assert_audited("user.created", target=user, outcome=Outcome.SUCCEEDED)


@pytest.mark.django_db
@pytest.mark.parametrize("email", ["", "not-an-email", "a@"])
def test_create_user_refuses_invalid_email(app_provider, manager, email):
    with pytest.raises(KarmoError) as caught:
        services.create_user(actor=manager, email=email)
    assert caught.value.code is ErrorCode.VALIDATION_FAILED
    assert caught.value.errors[0].pointer == "/email"
    assert_audited("user.created", outcome=Outcome.DENIED)


def test_refresh_user_pulls_provider_changes_into_the_mirror(mirrored, help_desk):
    target = membership_in(MirrorStatus.ACTIVE)
    mirrored.deactivate_membership(mirrored.get_membership(target.external_id))
    user = services.refresh_user(actor=help_desk, user=target.user)
    target.refresh_from_db()
    assert target.status == MirrorStatus.INACTIVE
    event = assert_audited("user.refreshed", target=user, outcome=Outcome.SUCCEEDED)
    assert event.before["memberships"][target.external_id] == "active"
    assert event.after["memberships"][target.external_id] == "inactive"
    assert event.data["changed"] is True


def test_refresh_marks_an_organization_the_provider_lost_as_removed(app_provider, help_desk):
    org = OrganizationFactory(provider="workos", external_id="org_gone")
    refreshed = services.refresh_organization(actor=help_desk, organization=org)
    assert refreshed.removed_at is not None
    event = assert_audited("organization.refreshed", target=org, outcome=Outcome.SUCCEEDED)
    assert event.after["removed"] is True


ALLOWED = {
    "reactivate": {"manager", "superuser"},
    "deactivate": {"manager", "superuser"},
    "upsert_role": {"manager", "superuser"},
    "set_roles": {"manager", "superuser"},
    "create_user": {"manager", "superuser"},
    "refresh": {"help_desk", "manager", "superuser"},
}


def _operations(org: Organization, member: OrganizationMembership) -> dict:
    return {
        "reactivate": lambda a: services.reactivate_membership(actor=a, membership=member),
        "deactivate": lambda a: services.deactivate_organization(
            actor=a, organization=OrganizationFactory(status=MirrorStatus.INACTIVE)
        ),
        "upsert_role": lambda a: services.upsert_organization_role(
            actor=a, organization=org, slug="org-x", name="X"
        ),
        "set_roles": lambda a: services.set_membership_roles(
            actor=a, membership=member, roles=["org-x"]
        ),
        "create_user": lambda a: services.create_user(actor=a, email="invalid"),
        "refresh": lambda a: services.refresh_organization(actor=a, organization=org),
    }


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["anonymous", "help_desk", "manager", "auditor", "superuser"])
@pytest.mark.parametrize("operation", list(ALLOWED))
def test_permission_matrix(app_provider, request, role, operation):
    if role == "anonymous":
        actor = AnonymousUser()
    elif role == "superuser":
        actor = User.objects.create_superuser("root", "root@karmo.example")
    else:
        actor = request.getfixturevalue(role)
    org = OrganizationFactory(provider="workos")
    OrganizationRole.objects.create(
        provider="sandbox", external_id="role_x", organization=org, slug="org-x", name="X"
    )
    member = MembershipFactory(organization=org)
    member.roles.create(organization=org, slug="org-x")
    refused = {ErrorCode.PERMISSION_DENIED, ErrorCode.APPROVAL_REQUIRED}
    try:
        _operations(org, member)[operation](actor)
    except KarmoError as error:
        code = error.code
    else:
        code = None
    if role in ALLOWED[operation]:
        assert code not in refused
    else:
        assert code in refused
        expected = (
            ErrorCode.APPROVAL_REQUIRED
            if (operation, role) == ("reactivate", "help_desk")
            else ErrorCode.PERMISSION_DENIED
        )
        assert code is expected
        event = AuditEvent.objects.get(outcome=Outcome.DENIED)
        assert event.error_code == expected.code
        assert event.actor_id == getattr(actor, "pk", None)


@pytest.mark.parametrize(
    ("operation", "event_type", "model", "before", "after"),
    [
        (services.activate_user, "user.activated", ProviderUser, "inactive", "active"),
        (services.deactivate_user, "user.deactivated", ProviderUser, "active", "inactive"),
        (
            services.reactivate_organization,
            "organization.reactivated",
            Organization,
            "inactive",
            "active",
        ),
        (
            services.deactivate_organization,
            "organization.deactivated",
            Organization,
            "active",
            "inactive",
        ),
    ],
)
def test_user_and_organization_status_changes_on_zitadel(
    zitadel_mirrored, manager, operation, event_type, model, before, after
):
    target = model.objects.filter(status=before).order_by("external_id").first()
    keyword = "user" if model is ProviderUser else "organization"
    change = operation(actor=manager, reason="ticket 12", **{keyword: target})
    assert change.changed
    target.refresh_from_db()
    assert target.status == after
    read = zitadel_mirrored.get_user if model is ProviderUser else zitadel_mirrored.get_organization
    assert read(target.external_id).status == after
    event = assert_audited(event_type, target=target, outcome=Outcome.SUCCEEDED)
    assert (event.before["status"], event.after["status"]) == (before, after)
    assert event.data["provider"] == "zitadel"

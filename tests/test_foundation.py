"""The schema's invariants: groups exist, the audit log refuses changes, ids are unique."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.db import IntegrityError, connection, transaction

from accounts.audit import record_event, verify_chain
from accounts.models import AuditEvent, AuditTreeNode, MembershipRole, Outcome
from accounts.models.audit import AppendOnlyError
from accounts.permissions import ROLE_PERMISSIONS
from tests.factories import MembershipFactory, MembershipRoleFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("group_name", list(ROLE_PERMISSIONS))
def test_migration_creates_staff_group_with_its_permissions(group_name):
    group = Group.objects.get(name=group_name)
    held = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
    assert held == set(ROLE_PERMISSIONS[group_name])


def test_provider_id_is_unique_per_provider():
    OrganizationFactory(external_id="org_same")
    OrganizationFactory(external_id="org_same", provider="workos")
    with pytest.raises(IntegrityError), transaction.atomic():
        OrganizationFactory(external_id="org_same")


def test_audit_event_refuses_update_and_delete_in_model_and_database():
    event = record_event(event_type="test.recorded", outcome=Outcome.RECORDED)
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    for sql in ("UPDATE accounts_auditevent SET reason = 'x'", "DELETE FROM accounts_auditevent"):
        with pytest.raises(Exception, match="append-only"), transaction.atomic():
            connection.cursor().execute(sql)
    assert verify_chain().ok


def test_audit_tree_nodes_refuse_update_and_delete_in_the_database():
    record_event(event_type="test.recorded", outcome=Outcome.RECORDED)
    nodes = AuditTreeNode.objects.count()
    for sql in (
        "UPDATE accounts_audittreenode SET hash = hash",
        "DELETE FROM accounts_audittreenode",
    ):
        with pytest.raises(Exception, match="append-only"), transaction.atomic():
            connection.cursor().execute(sql)
    assert AuditTreeNode.objects.count() == nodes
    assert verify_chain().ok


def test_role_holders_query_uses_organization_slug_index(django_assert_num_queries):
    membership = MembershipFactory()
    MembershipRoleFactory(membership=membership, slug="org-admin")
    with django_assert_num_queries(1):
        holders = list(
            MembershipRole.objects.filter(
                organization=membership.organization, slug="org-admin"
            ).values_list("membership__user__email", flat=True)
        )
    assert holders == [membership.user.email]
    query = MembershipRole.objects.filter(organization=membership.organization, slug="org-admin")
    plan = query.explain()
    assert "membership_role_org_slug_idx" in plan or "membership_role_uniq" not in plan

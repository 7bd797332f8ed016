"""Moving the provider's answers into the mirror, and snapshots of mirror rows for the audit log."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from accounts.models import (
    MembershipRole,
    Organization,
    OrganizationMembership,
    OrganizationRole,
    ProviderUser,
)
from providers import base as pb


def membership_state(row: OrganizationMembership) -> dict[str, Any]:
    """What the audit log keeps of a membership."""
    return {
        "status": row.status,
        "raw_status": row.raw_status,
        "roles": sorted(
            MembershipRole.objects.filter(membership=row).values_list("slug", flat=True)
        ),
    }


def user_state(row: ProviderUser) -> dict[str, Any]:
    """What the audit log keeps of a provider user."""
    return {
        "email": row.email,
        "first_name": row.first_name,
        "last_name": row.last_name,
        "email_verified": row.email_verified,
        "status": row.status,
        "raw_status": row.raw_status,
        "removed": row.removed_at is not None,
    }


def organization_state(row: Organization) -> dict[str, Any]:
    """What the audit log keeps of an organization."""
    return {
        "name": row.name,
        "status": row.status,
        "raw_status": row.raw_status,
        "removed": row.removed_at is not None,
    }


def role_state(row: OrganizationRole | None) -> dict[str, Any] | None:
    """What the audit log keeps of a role (None when it does not exist yet)."""
    if row is None:
        return None
    return {
        "id": row.external_id,
        "slug": row.slug,
        "name": row.name,
        "description": row.description,
    }


def as_provider_membership(row: OrganizationMembership) -> pb.Membership:
    """The provider dataclass for a mirrored membership."""
    return pb.Membership(
        id=row.external_id,
        organization_id=row.organization.external_id,
        user_id=row.user.external_id,
        status=pb.Status(row.status),
        raw_status=row.raw_status,
        roles=tuple(
            sorted(MembershipRole.objects.filter(membership=row).values_list("slug", flat=True))
        ),
    )


def save_membership(pk: int, value: pb.Membership) -> OrganizationMembership:
    """Write a provider membership (status and roles) over its mirror row; call inside atomic."""
    row = (
        OrganizationMembership.objects.select_for_update()
        .select_related("organization", "user")
        .get(pk=pk)
    )
    row.status = str(value.status)
    row.raw_status = value.raw_status or str(value.status)
    row.synced_at = timezone.now()
    row.removed_at = None
    row.save(update_fields=["status", "raw_status", "synced_at", "removed_at", "updated_at"])
    wanted = set(value.roles)
    MembershipRole.objects.filter(membership=row).exclude(slug__in=wanted).delete()
    held = set(MembershipRole.objects.filter(membership=row).values_list("slug", flat=True))
    MembershipRole.objects.bulk_create(
        MembershipRole(membership=row, organization_id=row.organization_id, slug=slug)
        for slug in sorted(wanted - held)
    )
    return row


def save_user(pk: int, value: pb.User) -> ProviderUser:
    """Write a provider user over its mirror row; call inside atomic."""
    row = ProviderUser.objects.select_for_update().get(pk=pk)
    _fill_user(row, value)
    row.save()
    return row


def save_new_user(provider_name: str, value: pb.User) -> ProviderUser:
    """Create (or refresh) the mirror row of a user the provider has just created."""
    row = (
        ProviderUser.objects.select_for_update()
        .filter(provider=provider_name, external_id=value.id)
        .first()
    ) or ProviderUser(provider=provider_name, external_id=value.id)
    _fill_user(row, value)
    row.save()
    return row


def _fill_user(row: ProviderUser, value: pb.User) -> None:
    row.email = value.email
    row.first_name = value.first_name
    row.last_name = value.last_name
    row.email_verified = value.email_verified
    row.status = str(value.status)
    row.raw_status = value.raw_status or str(value.status)
    row.synced_at = timezone.now()
    row.removed_at = None


def save_organization(pk: int, value: pb.Organization) -> Organization:
    """Write a provider organization over its mirror row; call inside atomic."""
    row = Organization.objects.select_for_update().get(pk=pk)
    row.name = value.name
    row.status = str(value.status)
    row.raw_status = value.raw_status or str(value.status)
    row.synced_at = timezone.now()
    row.removed_at = None
    row.save()
    return row


def save_role(organization: Organization, value: pb.Role) -> OrganizationRole:
    """Create or update the mirror row of an organization role; call inside atomic."""
    row = (
        OrganizationRole.objects.select_for_update()
        .filter(provider=organization.provider, external_id=value.id)
        .first()
    ) or OrganizationRole(provider=organization.provider, external_id=value.id)
    row.organization = organization
    row.slug = value.slug
    row.name = value.name
    row.description = value.description
    row.synced_at = timezone.now()
    row.removed_at = None
    row.save()
    return row


def mark_removed(row: Organization | ProviderUser) -> None:
    """Record that the provider no longer knows a row (rows are never hard-deleted)."""
    row.removed_at = timezone.now()
    row.save(update_fields=["removed_at", "updated_at"])

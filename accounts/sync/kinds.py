"""What sync knows about each mirrored kind: where it comes from and what is compared."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db import models

from accounts.models import Organization, OrganizationMembership, OrganizationRole, ProviderUser
from providers import base

# Values compared and written: plain field values, references as the referenced row's
# provider id, and a membership's role slugs as a sorted tuple.
Values = dict[str, Any]

REFERENCED: dict[str, type[models.Model]] = {"organization": Organization, "user": ProviderUser}


def _clip(model: type[models.Model], name: str, value: str) -> str:
    """Cut a string to its column's length so an odd provider value cannot fail a batch."""
    max_length = model._meta.get_field(name).max_length
    return value[:max_length] if max_length else value


@dataclass(frozen=True, slots=True)
class Kind:
    """One mirrored kind: its model, provider listing and compared values."""

    noun: str
    plural: str
    model: type[models.Model]
    fields: tuple[str, ...]
    refs: tuple[str, ...]
    listing: Callable[[base.Provider], Iterator[Any]]
    to_values: Callable[[Any], Values]
    describe: Callable[[str, Values, dict[str, int | None]], dict[str, str]]

    def queryset(self, provider_key: str) -> models.QuerySet:
        """This kind's rows of one provider, with what `current` reads joined in."""
        columns = [
            "pk",
            "external_id",
            "synced_at",
            "removed_at",
            *self.fields,
            *(f"{ref}__external_id" for ref in self.refs),
        ]
        queryset = self.model.objects.filter(provider=provider_key)
        if self.refs:
            queryset = queryset.select_related(*self.refs)
        return queryset.only(*columns)

    def stored(self, provider_key: str, external_ids: Iterable[str]) -> list[dict[str, Any]]:
        """Stored rows as plain dicts (cheaper than model instances for the unchanged majority)."""
        columns = [
            "pk",
            "external_id",
            "synced_at",
            "removed_at",
            *self.fields,
            *(f"{ref}_id" for ref in self.refs),
            *(f"{ref}__external_id" for ref in self.refs),
        ]
        rows = self.model.objects.filter(provider=provider_key, external_id__in=external_ids)
        return list(rows.order_by().values(*columns))

    def current(self, row: dict[str, Any], roles: tuple[str, ...] | None) -> Values:
        """A stored row in the shape of `to_values`."""
        values = {name: row[name] for name in self.fields}
        for ref in self.refs:
            values[ref] = row[f"{ref}__external_id"] or ""
        if self.noun == "membership":
            values["roles"] = roles or ()
        return values

    def instance(self, provider_key: str, row: dict[str, Any]) -> models.Model:
        """A model instance for a stored row, with referenced rows as id-only stand-ins."""
        obj = self.model(
            pk=row["pk"],
            provider=provider_key,
            external_id=row["external_id"],
            synced_at=row["synced_at"],
            removed_at=row["removed_at"],
            **{name: row[name] for name in self.fields},
        )
        for ref in self.refs:
            if row[f"{ref}_id"] is not None:
                target = REFERENCED[ref](
                    pk=row[f"{ref}_id"], external_id=row[f"{ref}__external_id"]
                )
                setattr(obj, ref, target)
        obj._state.adding = False
        return obj


def _organization(item: base.Organization) -> Values:
    return {
        "name": _clip(Organization, "name", item.name),
        "status": str(item.status),
        "raw_status": _clip(Organization, "raw_status", item.raw_status),
    }


def _user(item: base.User) -> Values:
    return {
        "email": _clip(ProviderUser, "email", item.email),
        "first_name": _clip(ProviderUser, "first_name", item.first_name),
        "last_name": _clip(ProviderUser, "last_name", item.last_name),
        "email_verified": bool(item.email_verified),
        "status": str(item.status),
        "raw_status": _clip(ProviderUser, "raw_status", item.raw_status),
    }


def _membership(item: base.Membership) -> Values:
    return {
        "status": str(item.status),
        "raw_status": _clip(OrganizationMembership, "raw_status", item.raw_status),
        "organization": item.organization_id,
        "user": item.user_id,
        "roles": tuple(sorted({slug[:64] for slug in item.roles})),
    }


def _role(item: base.Role) -> Values:
    return {
        "slug": _clip(OrganizationRole, "slug", item.slug),
        "name": _clip(OrganizationRole, "name", item.name),
        "description": _clip(OrganizationRole, "description", item.description),
        "organization": item.organization_id or "",
    }


# What accounts.audit.describe_target() says of a row, from its values and referenced pks.
def _describe_organization(external_id: str, values: Values, refs: dict) -> dict[str, str]:
    return {
        "target_type": "organization",
        "target_id": external_id,
        "target_repr": values["name"][:255],
        "organization_external_id": external_id,
    }


def _describe_user(external_id: str, values: Values, refs: dict) -> dict[str, str]:
    return {
        "target_type": "provideruser",
        "target_id": external_id,
        "target_repr": values["email"][:255],
        "user_external_id": external_id,
    }


def _describe_membership(external_id: str, values: Values, refs: dict) -> dict[str, str]:
    return {
        "target_type": "organizationmembership",
        "target_id": external_id,
        "target_repr": f"{values['user']} in {values['organization']}"[:255],
        "organization_external_id": values["organization"],
        "user_external_id": values["user"],
    }


def _describe_role(external_id: str, values: Values, refs: dict) -> dict[str, str]:
    described = {
        "target_type": "organizationrole",
        "target_id": external_id,
        "target_repr": values["slug"][:255],
    }
    if refs.get("organization") is not None:
        described["organization_external_id"] = values["organization"]
    return described


ORGANIZATIONS = Kind(
    noun="organization",
    plural="organizations",
    model=Organization,
    fields=("name", "status", "raw_status"),
    refs=(),
    listing=lambda provider: provider.list_organizations(),
    to_values=_organization,
    describe=_describe_organization,
)
USERS = Kind(
    noun="user",
    plural="users",
    model=ProviderUser,
    fields=("email", "first_name", "last_name", "email_verified", "status", "raw_status"),
    refs=(),
    listing=lambda provider: provider.list_users(),
    to_values=_user,
    describe=_describe_user,
)
MEMBERSHIPS = Kind(
    noun="membership",
    plural="memberships",
    model=OrganizationMembership,
    fields=("status", "raw_status"),
    refs=("organization", "user"),
    listing=lambda provider: provider.list_memberships(),
    to_values=_membership,
    describe=_describe_membership,
)
ROLES = Kind(
    noun="role",
    plural="roles",
    model=OrganizationRole,
    fields=("slug", "name", "description"),
    refs=("organization",),
    listing=lambda provider: provider.list_roles(),
    to_values=_role,
    describe=_describe_role,
)

# Referenced kinds come first so a batch of memberships or roles finds its rows.
KINDS = (ORGANIZATIONS, USERS, MEMBERSHIPS, ROLES)

"""Admin for the mirror: read-only listings whose actions go through accounts.services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.options import ActionLocation
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts import permissions
from accounts.admin.actions import (
    NONE,
    ServiceAction,
    make_action,
    request_reactivation_action,
    services,
    supported_actions,
)
from accounts.admin.base import MirrorAdmin, ReadOnlyAdmin
from accounts.models import (
    MembershipRole,
    Organization,
    OrganizationMembership,
    OrganizationRole,
    ProviderUser,
)
from providers.base import Capability


class PresenceFilter(admin.SimpleListFilter):
    """Rows the provider still returns, or those it stopped returning."""

    title = "at the provider"
    parameter_name = "presence"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("present", "Present"), ("removed", "Removed")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "present":
            return queryset.filter(removed_at__isnull=True)
        if self.value() == "removed":
            return queryset.filter(removed_at__isnull=False)
        return queryset


class ServiceActionsMixin:
    """Permission checks for the action names used by ServiceAction."""

    def has_request_reactivation_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(permissions.REQUEST_REACTIVATION)

    def has_reactivate_directly_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(permissions.REACTIVATE_DIRECTLY)

    def has_deactivate_access_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(permissions.DEACTIVATE_ACCESS)

    def has_refresh_from_provider_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(permissions.REFRESH_FROM_PROVIDER)

    def get_actions(
        self, request: HttpRequest, action_location: ActionLocation = ActionLocation.CHANGE_LIST
    ) -> dict[str, Any]:
        actions = super().get_actions(request, action_location)  # type: ignore[misc]
        return supported_actions(request, actions)


@admin.register(Organization)
class OrganizationAdmin(ServiceActionsMixin, MirrorAdmin):
    list_display = (
        "name",
        "external_id",
        "status",
        "raw_status",
        "provider",
        "present",
        "synced_at",
    )
    list_filter = ("status", "provider", PresenceFilter)
    search_fields = ("name", "external_id__exact")
    readonly_fields = ("name", "status", "raw_status", *MirrorAdmin.readonly_fields)
    actions = [
        make_action(
            ServiceAction(
                name="reactivate_organizations",
                needs=Capability.REACTIVATE_ORGANIZATION,
                label="Reactivate selected organizations",
                permission="reactivate_directly",
                provider_does="Reactivate each inactive organization.",
                call=lambda actor, row, reason: services().reactivate_organization(
                    actor=actor, organization=row, reason=reason
                ),
            )
        ),
        make_action(
            ServiceAction(
                name="deactivate_organizations",
                needs=Capability.DEACTIVATE_ORGANIZATION,
                label="Deactivate selected organizations",
                permission="deactivate_access",
                provider_does="Deactivate each active organization: its people lose access.",
                call=lambda actor, row, reason: services().deactivate_organization(
                    actor=actor, organization=row, reason=reason
                ),
            )
        ),
        make_action(
            request_reactivation_action("organizations", Capability.REACTIVATE_ORGANIZATION)
        ),
        make_action(
            ServiceAction(
                name="refresh_organizations",
                label="Sync selected organizations from the provider",
                permission="refresh_from_provider",
                provider_does="Read each organization again; nothing changes at the provider.",
                call=lambda actor, row, reason: services().refresh_organization(
                    actor=actor, organization=row
                ),
                reason=NONE,
            )
        ),
    ]


@admin.register(ProviderUser)
class ProviderUserAdmin(ServiceActionsMixin, MirrorAdmin):
    list_display = (
        "email",
        "full_name",
        "external_id",
        "status",
        "email_verified",
        "provider",
        "present",
    )
    list_filter = ("status", "provider", "email_verified", PresenceFilter)
    search_fields = ("email", "first_name", "last_name", "external_id__exact")
    readonly_fields = (
        "email",
        "first_name",
        "last_name",
        "email_verified",
        "status",
        "raw_status",
        *MirrorAdmin.readonly_fields,
    )
    actions = [
        make_action(
            ServiceAction(
                name="activate_users",
                needs=Capability.ACTIVATE_USER,
                label="Activate selected users",
                permission="reactivate_directly",
                provider_does="Activate each inactive user.",
                call=lambda actor, row, reason: services().activate_user(
                    actor=actor, user=row, reason=reason
                ),
            )
        ),
        make_action(
            ServiceAction(
                name="deactivate_users",
                needs=Capability.DEACTIVATE_USER,
                label="Deactivate selected users",
                permission="deactivate_access",
                provider_does="Deactivate each active user in every organization.",
                call=lambda actor, row, reason: services().deactivate_user(
                    actor=actor, user=row, reason=reason
                ),
            )
        ),
        make_action(request_reactivation_action("users", Capability.ACTIVATE_USER)),
        make_action(
            ServiceAction(
                name="refresh_users",
                label="Sync selected users from the provider",
                permission="refresh_from_provider",
                provider_does="Read each user and their memberships again; nothing changes.",
                call=lambda actor, row, reason: services().refresh_user(actor=actor, user=row),
                reason=NONE,
            )
        ),
    ]


@admin.register(OrganizationMembership)
class OrganizationMembershipAdmin(ServiceActionsMixin, MirrorAdmin):
    list_display = (
        "user_email",
        "organization_name",
        "status",
        "roles",
        "external_id",
        "provider",
        "present",
    )
    list_filter = ("status", "organization", "provider", PresenceFilter)
    list_select_related = ("organization", "user")
    search_fields = (
        "user__email",
        "user__last_name",
        "organization__name",
        "external_id__exact",
        "user__external_id__exact",
        "organization__external_id__exact",
    )
    readonly_fields = (
        "organization",
        "user",
        "status",
        "raw_status",
        "roles",
        *MirrorAdmin.readonly_fields,
    )
    actions = [
        make_action(
            ServiceAction(
                name="reactivate_memberships",
                needs=Capability.REACTIVATE_MEMBERSHIP,
                label="Reactivate selected memberships",
                permission="reactivate_directly",
                provider_does="Reactivate each inactive membership, keeping its roles.",
                call=lambda actor, row, reason: services().reactivate_membership(
                    actor=actor, membership=row, reason=reason
                ),
            )
        ),
        make_action(
            ServiceAction(
                name="deactivate_memberships",
                needs=Capability.DEACTIVATE_MEMBERSHIP,
                label="Deactivate selected memberships",
                permission="deactivate_access",
                provider_does="Deactivate each active membership: the person loses access there.",
                call=lambda actor, row, reason: services().deactivate_membership(
                    actor=actor, membership=row, reason=reason
                ),
            )
        ),
        make_action(request_reactivation_action("memberships", Capability.REACTIVATE_MEMBERSHIP)),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("roles")

    @admin.display(description="user", ordering="user__email")
    def user_email(self, obj: OrganizationMembership) -> str:
        return obj.user.email

    @admin.display(description="organization", ordering="organization__name")
    def organization_name(self, obj: OrganizationMembership) -> str:
        return obj.organization.name

    @admin.display(description="roles")
    def roles(self, obj: OrganizationMembership) -> str:
        return ", ".join(obj.role_slugs) or "—"


@admin.register(OrganizationRole)
class OrganizationRoleAdmin(MirrorAdmin):
    list_display = ("slug", "name", "organization", "external_id", "provider", "present")
    list_filter = ("provider", "organization", PresenceFilter)
    list_select_related = ("organization",)
    search_fields = ("slug", "name", "external_id__exact", "organization__name")
    readonly_fields = ("organization", "slug", "name", "description", *MirrorAdmin.readonly_fields)


@admin.register(MembershipRole)
class MembershipRoleAdmin(ReadOnlyAdmin):
    list_display = ("slug", "membership", "organization")
    list_filter = ("slug", "organization")
    list_select_related = ("membership__user", "membership__organization", "organization")
    search_fields = ("slug__exact", "membership__external_id__exact")
    readonly_fields = ("membership", "organization", "slug")

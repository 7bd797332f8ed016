"""Organizations, their memberships and roles; reactivation and role changes."""

from __future__ import annotations

from typing import Annotated, Any

from django.http import HttpRequest
from ninja import Body, Path, Query, Router, Schema
from pydantic import Field

from accounts import services, time_limits
from accounts.api import lookups
from accounts.api.auth import require
from accounts.api.pagination import PageQuery, page_out, paginate, where_given
from accounts.api.preview import DryRun, PreviewOut, change_or_preview
from accounts.api.schemas import (
    ORG_ID_DOC,
    ORG_ID_EXAMPLE,
    ROLE_SLUG_DOC,
    ROLE_SLUG_PATTERN,
    USER_ID_DOC,
    USER_ID_EXAMPLE,
    EndAccessIn,
    ExtendAccessIn,
    Lifecycle,
    MembershipAccessOut,
    MembershipList,
    MembershipOut,
    MembershipRolesIn,
    OrganizationList,
    OrganizationOut,
    RoleIdOut,
    RoleIn,
    RoleList,
    RoleOut,
    TimeLimitQuery,
)
from accounts.api.time_limit import time_limit
from accounts.errors import ErrorCode, FieldError, KarmoError
from accounts.models import Organization, OrganizationRole
from accounts.scopes import scoped

REACTIVATED_EXAMPLE = {
    "orgId": ORG_ID_EXAMPLE,
    "userId": USER_ID_EXAMPLE,
    "roles": ["org-admin"],
    "status": "active",
}


def _membership_access(request: HttpRequest, org_id: str, user_id: str) -> MembershipAccessOut:
    """The membership as it is now (after a change), with the end of time-bound access."""
    return MembershipAccessOut.of(lookups.get_membership(request.auth.user, org_id, user_id))


def success_doc(description: str, example: dict[str, Any]) -> dict[str, Any]:
    """openapi_extra giving a 200 answer the product docs' description and example."""
    return {
        "responses": {
            200: {"description": description, "content": {"application/json": {"example": example}}}
        }
    }


router = Router(tags=["Organizations"], by_alias=True)

OrgId = Annotated[str, Path(alias="orgId", description=ORG_ID_DOC, examples=[ORG_ID_EXAMPLE])]
UserId = Annotated[str, Path(alias="userId", description=USER_ID_DOC, examples=[USER_ID_EXAMPLE])]
RoleSlug = Annotated[
    str,
    Path(
        alias="roleSlug",
        description=ROLE_SLUG_DOC,
        pattern=ROLE_SLUG_PATTERN,
        max_length=64,
        examples=["org-admin"],
    ),
]


class OrganizationFilters(Schema):
    """Filters of listOrganizations."""

    status: Lifecycle | None = None


class MembershipFilters(Schema):
    """Filters of listMemberships."""

    status: Lifecycle | None = None
    role: str | None = Field(None, max_length=64, description="Only memberships holding it.")


@router.get(
    "/orgs",
    response=OrganizationList,
    operation_id="listOrganizations",
    summary="List organizations",
)
def list_organizations(
    request: HttpRequest, page: PageQuery, filters: Query[OrganizationFilters]
) -> OrganizationList:
    """List organizations by name."""
    require(request, "accounts.view_organization")
    orgs = where_given(
        scoped(request.auth.user, Organization.objects.present()), status=filters.status
    )
    found = paginate(orgs, kind="orgs", order=("name", "pk"), params=page)
    return page_out(OrganizationList, found, OrganizationOut.of)


@router.get(
    "/orgs/{orgId}",
    response=OrganizationOut,
    operation_id="getOrganization",
    summary="Get an organization",
)
def get_organization(request: HttpRequest, org_id: OrgId) -> OrganizationOut:
    """One organization."""
    require(request, "accounts.view_organization")
    return OrganizationOut.of(lookups.get_organization(request.auth.user, org_id))


@router.get(
    "/orgs/{orgId}/memberships",
    response=MembershipList,
    operation_id="listMemberships",
    summary="List an organization's memberships",
)
def list_memberships(
    request: HttpRequest, org_id: OrgId, page: PageQuery, filters: Query[MembershipFilters]
) -> MembershipList:
    """The organization's memberships, by the member's email."""
    require(request, "accounts.view_organizationmembership")
    org = lookups.get_organization(request.auth.user, org_id)
    found_memberships = where_given(
        lookups.memberships(request.auth.user).filter(organization=org),
        status=filters.status,
        roles__slug=filters.role,
    )
    found = paginate(
        found_memberships, kind=f"memberships:{org.pk}", order=("user__email", "pk"), params=page
    )
    return page_out(MembershipList, found, MembershipAccessOut.of)


@router.get(
    "/orgs/{orgId}/users/{userId}",
    response=MembershipAccessOut,
    operation_id="getMembership",
    summary="Get a user's membership of an organization",
)
def get_membership(request: HttpRequest, org_id: OrgId, user_id: UserId) -> MembershipAccessOut:
    """A user's membership of the organization, with the end of time-bound access."""
    require(request, "accounts.view_organizationmembership")
    return MembershipAccessOut.of(lookups.get_membership(request.auth.user, org_id, user_id))


@router.get(
    "/orgs/{orgId}/roles",
    response=RoleList,
    operation_id="listOrganizationRoles",
    summary="List an organization's roles",
)
def list_roles(request: HttpRequest, org_id: OrgId, page: PageQuery) -> RoleList:
    """The organization's own roles, by slug."""
    require(request, "accounts.view_organizationrole")
    org = lookups.get_organization(request.auth.user, org_id)
    roles = OrganizationRole.objects.present().filter(organization=org)
    found = paginate(roles, kind=f"roles:{org.pk}", order=("slug", "pk"), params=page)
    return page_out(RoleList, found, RoleOut.of)


@router.post(
    "/orgs/{orgId}/users/{userId}/reactivate",
    response=MembershipAccessOut | PreviewOut,
    operation_id="reactivateMembership",
    summary="Reactivate organization membership for user",
    openapi_extra=success_doc("Membership reactivated", REACTIVATED_EXAMPLE),
)
def reactivate_membership(
    request: HttpRequest,
    org_id: OrgId,
    user_id: UserId,
    limit: Query[TimeLimitQuery],
    dry_run: DryRun = False,
) -> MembershipAccessOut | PreviewOut:
    """Reactivate an inactive membership at the provider (managers; help desk must request it).

    `until` or `duration` make it time-bound: Karmo's scheduled task deactivates the membership
    again then, unless a manager extends it, and the answer carries `accessUntil`.
    """
    membership = lookups.get_membership(request.auth.user, org_id, user_id)
    return change_or_preview(
        request,
        dry_run,
        lambda preview: services.reactivate_membership(
            actor=request.auth.user, membership=membership, until=time_limit(limit), preview=preview
        ),
        answer=lambda _: _membership_access(request, org_id, user_id),
    )


@router.post(
    "/orgs/{orgId}/users/{userId}/access/extend",
    response=MembershipAccessOut | PreviewOut,
    operation_id="extendMembershipAccess",
    summary="Extend a membership's time-bound access",
)
def extend_access(
    request: HttpRequest,
    org_id: OrgId,
    user_id: UserId,
    body: ExtendAccessIn,
    dry_run: DryRun = False,
) -> MembershipAccessOut | PreviewOut:
    """Move the end of a running time limit (managers); reminders are sent again before it."""
    membership = lookups.get_membership(request.auth.user, org_id, user_id)
    until = time_limit(body)
    if until is None:
        raise KarmoError(
            ErrorCode.INVALID_TIME_LIMIT, errors=[FieldError("give until or duration", "/until")]
        )
    return change_or_preview(
        request,
        dry_run,
        lambda preview: time_limits.extend_access(
            actor=request.auth.user,
            membership=membership,
            until=until,
            reason=body.reason,
            preview=preview,
        ),
        answer=lambda _: _membership_access(request, org_id, user_id),
    )


@router.post(
    "/orgs/{orgId}/users/{userId}/access/end",
    response=MembershipAccessOut | PreviewOut,
    operation_id="endMembershipAccess",
    summary="End a membership's time-bound access now",
)
def end_access(
    request: HttpRequest,
    org_id: OrgId,
    user_id: UserId,
    body: Body[EndAccessIn | None] = None,
    dry_run: DryRun = False,
) -> MembershipAccessOut | PreviewOut:
    """Deactivate a membership with a running time limit now, before its end (managers)."""
    membership = lookups.get_membership(request.auth.user, org_id, user_id)
    return change_or_preview(
        request,
        dry_run,
        lambda preview: time_limits.end_access(
            actor=request.auth.user,
            membership=membership,
            reason=(body or EndAccessIn()).reason,
            preview=preview,
        ),
        answer=lambda _: _membership_access(request, org_id, user_id),
    )


@router.put(
    "/orgs/{orgId}/roles/{roleSlug}",
    response=RoleIdOut | PreviewOut,
    operation_id="upsertOrganizationRole",
    summary="Create or update an organization role",
    openapi_extra=success_doc("Created or updated role id", {"id": "role_01HXYZ"}),
)
def upsert_role(
    request: HttpRequest, org_id: OrgId, role_slug: RoleSlug, body: RoleIn, dry_run: DryRun = False
) -> RoleIdOut | PreviewOut:
    """Create the role, or rename it if the organization already has it."""
    org = lookups.get_organization(request.auth.user, org_id)
    return change_or_preview(
        request,
        dry_run,
        lambda preview: services.upsert_organization_role(
            actor=request.auth.user,
            organization=org,
            slug=role_slug,
            name=body.name,
            preview=preview,
        ),
        answer=lambda change: RoleIdOut(id=change.target.external_id),
    )


@router.put(
    "/orgs/{orgId}/users/{userId}/roles",
    response=MembershipOut | PreviewOut,
    operation_id="setMembershipRoles",
    summary="Set a membership's roles",
)
def set_roles(
    request: HttpRequest,
    org_id: OrgId,
    user_id: UserId,
    body: MembershipRolesIn,
    dry_run: DryRun = False,
) -> MembershipOut | PreviewOut:
    """Replace the membership's roles with exactly these slugs."""
    membership = lookups.get_membership(request.auth.user, org_id, user_id)
    return change_or_preview(
        request,
        dry_run,
        lambda preview: services.set_membership_roles(
            actor=request.auth.user, membership=membership, roles=body.roles, preview=preview
        ),
        answer=lambda _: MembershipOut.of(
            lookups.get_membership(request.auth.user, org_id, user_id)
        ),
    )


@router.post(
    "/orgs/{orgId}/reactivate",
    response=OrganizationOut | PreviewOut,
    operation_id="reactivateOrganization",
    summary="Reactivate an organization",
)
def reactivate_organization(
    request: HttpRequest, org_id: OrgId, dry_run: DryRun = False
) -> OrganizationOut | PreviewOut:
    """Reactivate an inactive organization (managers; help desk must request it)."""
    org = lookups.get_organization(request.auth.user, org_id)
    return change_or_preview(
        request,
        dry_run,
        lambda preview: services.reactivate_organization(
            actor=request.auth.user, organization=org, preview=preview
        ),
        answer=lambda change: OrganizationOut.of(change.target),
    )

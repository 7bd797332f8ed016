"""Organization roles and the roles a membership holds."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from django.db.models import Q

from accounts import permissions
from accounts.errors import ErrorCode, FieldError
from accounts.models import (
    MembershipRole,
    Organization,
    OrganizationMembership,
    OrganizationRole,
)
from accounts.services import mirroring
from accounts.services.flow import (
    Actor,
    Change,
    Step,
    deny,
    noop,
    require,
    require_in_scope,
    run,
    start_call,
)
from accounts.services.readback import ReadBack
from providers.base import Capability

ROLE_SLUG = re.compile(r"^org-[a-z0-9_-]+$")
MAX_SLUG = 48
MAX_NAME = 48
MAX_DESCRIPTION = 150


def _role_errors(slug: str, name: str, description: str) -> list[tuple[ErrorCode, FieldError]]:
    problems = []
    if not ROLE_SLUG.fullmatch(slug) or len(slug) > MAX_SLUG:
        problems.append(
            (
                ErrorCode.INVALID_ROLE_SLUG,
                FieldError(
                    f"{ErrorCode.INVALID_ROLE_SLUG.message} At most {MAX_SLUG} characters.",
                    "/slug",
                ),
            )
        )
    if not name or len(name) > MAX_NAME:
        problems.append(
            (ErrorCode.INVALID_ROLE_NAME, FieldError(ErrorCode.INVALID_ROLE_NAME.message, "/name"))
        )
    if len(description) > MAX_DESCRIPTION:
        problems.append(
            (
                ErrorCode.VALIDATION_FAILED,
                FieldError(f"At most {MAX_DESCRIPTION} characters.", "/description"),
            )
        )
    return problems


def upsert_organization_role(
    *,
    actor: Actor,
    organization: Organization,
    slug: str,
    name: str,
    description: str = "",
    via: str = "",
    correlation_id: str = "",
    preview: bool = False,
) -> Change[OrganizationRole]:
    """Create an organization role, or update the name and description of an existing one."""
    event_type = "role.upserted"
    call = start_call(actor, via=via, correlation_id=correlation_id, preview=preview)
    slug, name, description = (str(v or "").strip() for v in (slug, name, description))
    data = {"slug": slug, "name": name}
    require_in_scope(call, event_type, organization)
    require(call, permissions.MANAGE_ROLES, event_type, organization)
    problems = _role_errors(slug, name, description)
    if problems:
        code = problems[0][0] if len(problems) == 1 else ErrorCode.VALIDATION_FAILED
        raise deny(
            call,
            event_type,
            code,
            target=organization,
            errors=[error for _, error in problems],
            data=data,
        )
    existing = (
        OrganizationRole.objects.present().filter(organization=organization, slug=slug).first()
    )
    before = mirroring.role_state(existing)
    if existing is not None and (existing.name, existing.description) == (name, description):
        return noop(call, event_type, existing, before)
    step = Step(
        event_type=event_type,
        capability=Capability.UPSERT_ORGANIZATION_ROLE,
        target=organization,
        call=lambda p: p.upsert_organization_role(
            organization.external_id, slug, name, description
        ),
        apply=lambda _name, value: mirroring.save_role(organization, value),
        snapshot=mirroring.role_state,
        before=before,
        data=data,
        expected={
            **(before or {"id": None, "slug": slug}),
            "name": name,
            "description": description,
        },
        blast_radius=blast_radius(organization, slug) if preview else None,
    )
    return run(call, step)


BLAST_SAMPLE = 10


def blast_radius(organization: Organization, slug: str) -> dict[str, Any]:
    """How many present memberships hold the role, in which organizations, with a sample."""
    held = MembershipRole.objects.filter(
        slug=slug, organization=organization, membership__removed_at__isnull=True
    )
    sample = held.select_related("membership__user").order_by("membership__user__email")
    return {
        "memberships": held.count(),
        "organizations": [organization.external_id] if held.exists() else [],
        "sample": [row.membership.user.email for row in sample[:BLAST_SAMPLE]],
    }


def set_membership_roles(
    *,
    actor: Actor,
    membership: OrganizationMembership,
    roles: Sequence[str],
    via: str = "",
    correlation_id: str = "",
    preview: bool = False,
) -> Change[OrganizationMembership]:
    """Replace a membership's roles with `roles`, each of which must exist for its organization."""
    event_type = "membership.roles_set"
    call = start_call(actor, via=via, correlation_id=correlation_id, preview=preview)
    require_in_scope(call, event_type, membership)
    require(call, permissions.MANAGE_ROLES, event_type, membership)
    if isinstance(roles, str) or not all(isinstance(r, str) for r in roles):
        raise deny(
            call,
            event_type,
            ErrorCode.VALIDATION_FAILED,
            target=membership,
            errors=[FieldError("Roles must be a list of role slugs.", "/roles")],
        )
    wanted = list(dict.fromkeys(r.strip() for r in roles))
    data = {"roles": wanted}
    if not wanted:
        raise deny(
            call,
            event_type,
            ErrorCode.VALIDATION_FAILED,
            target=membership,
            errors=[FieldError("At least one role is required.", "/roles")],
            data=data,
        )
    known = set(
        OrganizationRole.objects.present()
        .filter(provider=membership.provider, slug__in=wanted)
        .filter(Q(organization=membership.organization_id) | Q(organization__isnull=True))
        .values_list("slug", flat=True)
    )
    unknown = [
        FieldError(f"Role {slug!r} does not exist for this organization.", f"/roles/{index}")
        for index, slug in enumerate(wanted)
        if slug not in known
    ]
    if unknown:
        raise deny(
            call, event_type, ErrorCode.UNKNOWN_ROLE, target=membership, errors=unknown, data=data
        )
    before = mirroring.membership_state(membership)
    if sorted(wanted) == before["roles"]:
        return noop(call, event_type, membership, before)
    step = Step(
        event_type=event_type,
        capability=Capability.SET_MEMBERSHIP_ROLES,
        target=membership,
        call=lambda p: p.set_membership_roles(
            mirroring.as_provider_membership(membership), tuple(wanted)
        ),
        apply=lambda _name, value: mirroring.save_membership(membership.pk, value),
        snapshot=mirroring.membership_state,
        before=before,
        data=data,
        read_back=ReadBack(
            read=lambda p, _answer: p.get_membership(membership.external_id),
            wanted={"roles": sorted(wanted)},
            observe=lambda value: {"roles": sorted(value.roles)},
        ),
    )
    return run(call, step)

"""Reactivating and deactivating memberships, users and organizations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from django.db import models

from accounts import permissions
from accounts.errors import ErrorCode, KarmoError
from accounts.models import (
    AccessState,
    MirrorStatus,
    Organization,
    OrganizationMembership,
    ProviderUser,
    ReactivationRequest,
)
from accounts.services import limits, mirroring
from accounts.services.flow import (
    Actor,
    Call,
    Change,
    Step,
    deny,
    has_perm,
    noop,
    require_in_scope,
    run,
    start_call,
)
from accounts.services.locks import target_lock
from accounts.services.readback import ReadBack
from providers.base import Capability, Provider, Result


@dataclass(frozen=True, slots=True)
class StatusChange:
    """One lifecycle operation: the status it leads to and how to ask the provider for it."""

    event_type: str
    capability: Capability
    permission: str
    wanted: MirrorStatus
    call: Callable[[Provider, Any], Result[Any]]
    # One GET of the target by its provider id, to check the change afterwards.
    read: Callable[[Provider, str], Any]
    save: Callable[[int, Any], models.Model]
    snapshot: Callable[[Any], Any]


REACTIVATE_MEMBERSHIP = StatusChange(
    "membership.reactivated",
    Capability.REACTIVATE_MEMBERSHIP,
    permissions.REACTIVATE_DIRECTLY,
    MirrorStatus.ACTIVE,
    lambda p, row: p.reactivate_membership(mirroring.as_provider_membership(row)),
    lambda p, external_id: p.get_membership(external_id),
    mirroring.save_membership,
    mirroring.membership_state,
)
DEACTIVATE_MEMBERSHIP = StatusChange(
    "membership.deactivated",
    Capability.DEACTIVATE_MEMBERSHIP,
    permissions.DEACTIVATE_ACCESS,
    MirrorStatus.INACTIVE,
    lambda p, row: p.deactivate_membership(mirroring.as_provider_membership(row)),
    lambda p, external_id: p.get_membership(external_id),
    mirroring.save_membership,
    mirroring.membership_state,
)
ACTIVATE_USER = StatusChange(
    "user.activated",
    Capability.ACTIVATE_USER,
    permissions.REACTIVATE_DIRECTLY,
    MirrorStatus.ACTIVE,
    lambda p, row: p.activate_user(row.external_id),
    lambda p, external_id: p.get_user(external_id),
    mirroring.save_user,
    mirroring.user_state,
)
DEACTIVATE_USER = StatusChange(
    "user.deactivated",
    Capability.DEACTIVATE_USER,
    permissions.DEACTIVATE_ACCESS,
    MirrorStatus.INACTIVE,
    lambda p, row: p.deactivate_user(row.external_id),
    lambda p, external_id: p.get_user(external_id),
    mirroring.save_user,
    mirroring.user_state,
)
REACTIVATE_ORGANIZATION = StatusChange(
    "organization.reactivated",
    Capability.REACTIVATE_ORGANIZATION,
    permissions.REACTIVATE_DIRECTLY,
    MirrorStatus.ACTIVE,
    lambda p, row: p.reactivate_organization(row.external_id),
    lambda p, external_id: p.get_organization(external_id),
    mirroring.save_organization,
    mirroring.organization_state,
)
DEACTIVATE_ORGANIZATION = StatusChange(
    "organization.deactivated",
    Capability.DEACTIVATE_ORGANIZATION,
    permissions.DEACTIVATE_ACCESS,
    MirrorStatus.INACTIVE,
    lambda p, row: p.deactivate_organization(row.external_id),
    lambda p, external_id: p.get_organization(external_id),
    mirroring.save_organization,
    mirroring.organization_state,
)
STATUS_CHANGES = {
    op.event_type: op
    for op in (
        REACTIVATE_MEMBERSHIP,
        DEACTIVATE_MEMBERSHIP,
        ACTIVATE_USER,
        DEACTIVATE_USER,
        REACTIVATE_ORGANIZATION,
        DEACTIVATE_ORGANIZATION,
    )
}


def change_status(op: StatusChange, call: Call, target: Any, reason: str) -> Change[Any]:
    """Check, then move one target to the operation's status through the provider."""
    reason = (reason or "").strip()
    require_in_scope(call, op.event_type, target)
    if not call.system and not has_perm(call.actor, op.permission):
        code = ErrorCode.PERMISSION_DENIED
        if op.wanted == MirrorStatus.ACTIVE and has_perm(
            call.actor, permissions.REQUEST_REACTIVATION
        ):
            code = ErrorCode.APPROVAL_REQUIRED
        if not (call.preview and code is ErrorCode.APPROVAL_REQUIRED):
            raise deny(call, op.event_type, code, target=target, reason=reason)
        # A preview tells the requester what an approval would do.
        call = replace(call, data={**call.data, "approval_needed": True})
    with target_lock(target):
        target.refresh_from_db()  # what a change that held the lock before us left
        return _change_locked(op, call, target, reason)


def _change_locked(op: StatusChange, call: Call, target: Any, reason: str) -> Change[Any]:
    before = op.snapshot(target)
    if target.status == op.wanted and target.removed_at is None:
        return noop(call, op.event_type, target, before, reason)
    if isinstance(target, OrganizationMembership) and target.status == MirrorStatus.PENDING:
        code = (
            ErrorCode.PENDING_CANNOT_REACTIVATE
            if op.wanted == MirrorStatus.ACTIVE
            else ErrorCode.STATE_CONFLICT
        )
        raise deny(call, op.event_type, code, target=target, reason=reason)
    if "request" not in call.data:
        call = replace(call, data={**call.data, "direct": True})
    step = Step(
        event_type=op.event_type,
        capability=op.capability,
        target=target,
        call=lambda provider: op.call(provider, target),
        apply=lambda _name, value: op.save(target.pk, value),
        snapshot=op.snapshot,
        before=before,
        reason=reason,
        read_back=ReadBack(
            read=lambda provider, _answer: op.read(provider, target.external_id),
            wanted={"status": str(op.wanted)},
            observe=lambda value: {"status": str(value.status)},
        ),
    )
    return run(call, step)


def reactivate_membership(
    *,
    actor: Actor,
    membership: OrganizationMembership,
    reason: str = "",
    via: str = "",
    correlation_id: str = "",
    request: ReactivationRequest | None = None,
    until: datetime | None = None,
    preview: bool = False,
) -> Change[OrganizationMembership]:
    """Reactivate an inactive membership (managers; help desk must request it).

    With `until`, the access is time-bound: a scheduled task deactivates it then.
    """
    call = start_call(
        actor, via=via, correlation_id=correlation_id, request=request, preview=preview
    )
    return reactivate_until(call, membership, reason, until, request)


def reactivate_until(
    call: Call,
    membership: OrganizationMembership,
    reason: str,
    until: datetime | None,
    request: ReactivationRequest | None = None,
) -> Change[OrganizationMembership]:
    """Reactivate, and when it changed something and `until` is given, start the time limit."""
    if until is not None:
        require_in_scope(call, REACTIVATE_MEMBERSHIP.event_type, membership)
        try:
            limits.check_until(until)
        except KarmoError as error:
            raise deny(
                call,
                REACTIVATE_MEMBERSHIP.event_type,
                error.code,
                target=membership,
                message=error.message,
                errors=error.errors,
                reason=reason,
            ) from None
        call = replace(call, data={**call.data, "until": until.isoformat()})
    change = change_status(REACTIVATE_MEMBERSHIP, call, membership, reason)
    if until is None:
        return change
    if change.preview is not None:
        after = {**(change.preview.after or {}), "access_until": until.isoformat()}
        return replace(change, preview=replace(change.preview, after=after))
    if change.changed:
        limits.start(call, change.target, until, request)
    return change


def deactivate_membership(
    *,
    actor: Actor,
    membership: OrganizationMembership,
    reason: str = "",
    via: str = "",
    correlation_id: str = "",
    preview: bool = False,
    call: Call | None = None,
) -> Change[OrganizationMembership]:
    """Deactivate an active membership; a running time limit ends with it.

    `call` is given by the time-limit task, which acts as the system.
    """
    call = call or start_call(actor, via=via, correlation_id=correlation_id, preview=preview)
    change = change_status(DEACTIVATE_MEMBERSHIP, call, membership, reason)
    if not call.preview:
        state = AccessState.EXPIRED if call.system else AccessState.ENDED
        limits.close(call, change.target, state, reason)
    return change


def activate_user(
    *,
    actor: Actor,
    user: ProviderUser,
    reason: str = "",
    via: str = "",
    correlation_id: str = "",
    request: ReactivationRequest | None = None,
    preview: bool = False,
) -> Change[ProviderUser]:
    """Activate an inactive provider user."""
    call = start_call(
        actor, via=via, correlation_id=correlation_id, request=request, preview=preview
    )
    return change_status(ACTIVATE_USER, call, user, reason)


def deactivate_user(
    *,
    actor: Actor,
    user: ProviderUser,
    reason: str = "",
    via: str = "",
    correlation_id: str = "",
    preview: bool = False,
) -> Change[ProviderUser]:
    """Deactivate an active provider user."""
    call = start_call(actor, via=via, correlation_id=correlation_id, preview=preview)
    return change_status(DEACTIVATE_USER, call, user, reason)


def reactivate_organization(
    *,
    actor: Actor,
    organization: Organization,
    reason: str = "",
    via: str = "",
    correlation_id: str = "",
    request: ReactivationRequest | None = None,
    preview: bool = False,
) -> Change[Organization]:
    """Reactivate an inactive organization."""
    call = start_call(
        actor, via=via, correlation_id=correlation_id, request=request, preview=preview
    )
    return change_status(REACTIVATE_ORGANIZATION, call, organization, reason)


def deactivate_organization(
    *,
    actor: Actor,
    organization: Organization,
    reason: str = "",
    via: str = "",
    correlation_id: str = "",
    preview: bool = False,
) -> Change[Organization]:
    """Deactivate an active organization."""
    call = start_call(actor, via=via, correlation_id=correlation_id, preview=preview)
    return change_status(DEACTIVATE_ORGANIZATION, call, organization, reason)

"""Changes whose read-back disagreed with what was asked, and settling them."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet

from accounts import permissions
from accounts.audit import lock_chain
from accounts.errors import ErrorCode
from accounts.models import AuditEvent, Outcome
from accounts.services.flow import (
    VERIFICATION_FAILED,
    VERIFICATION_RESOLVED,
    Actor,
    deny,
    require,
    start_call,
)

# Settling a failure means someone checked the provider by hand: a manager's job.
RESOLVE_PERMISSION = permissions.REACTIVATE_DIRECTLY


def unresolved_failures() -> QuerySet[AuditEvent]:
    """`verification.failed` events no `verification.resolved` event has settled, newest first."""
    resolved = AuditEvent.objects.filter(
        event_type=VERIFICATION_RESOLVED,
        outcome=Outcome.SUCCEEDED,
        correlation_id=OuterRef("correlation_id"),
    )
    return AuditEvent.objects.filter(event_type=VERIFICATION_FAILED).filter(~Exists(resolved))


def resolve_verification_failure(
    *, actor: Actor, failure: AuditEvent, note: str, via: str = ""
) -> None:
    """Record that someone looked into a failed verification and settled it, with a note."""
    call = start_call(actor, via=via, correlation_id=failure.correlation_id)
    data = {"failure": failure.sequence, "change": failure.data.get("change", "")}
    require(call, RESOLVE_PERMISSION, VERIFICATION_RESOLVED)
    note = (note or "").strip()
    if not note:
        raise deny(call, VERIFICATION_RESOLVED, ErrorCode.REASON_REQUIRED, data=data)
    with transaction.atomic():
        # The chain lock serialises two people resolving the same failure at once.
        lock_chain()
        still_open = unresolved_failures().filter(pk=failure.pk).exists()
        if still_open:
            call.event(
                event_type=VERIFICATION_RESOLVED,
                outcome=Outcome.SUCCEEDED,
                reason=note,
                data=data,
            )
    if not still_open:
        raise deny(
            call,
            VERIFICATION_RESOLVED,
            ErrorCode.STATE_CONFLICT,
            message="This verification failure is already resolved.",
            data=data,
        )

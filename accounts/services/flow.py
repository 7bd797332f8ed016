"""The one flow every state change follows: check, record the attempt, call, record the outcome."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models, transaction
from django.dispatch import Signal

from accounts import scopes
from accounts.audit import lock_chain, record_event
from accounts.errors import ErrorCode, FieldError, KarmoError, from_provider_error
from accounts.models import AuditEvent, Outcome
from accounts.services.readback import Mismatch, ReadBack, check
from providers.base import Capability, Provider, Result
from providers.errors import ProviderError, ProviderNotConfigured
from providers.registry import get_provider

type Actor = AbstractBaseUser | AnonymousUser | None

# Sent after a state-changing provider call returned and before the mirror is updated
# (sender: the event type; kwargs: result, correlation_id). An extension point for metrics,
# and what the reconcile test uses to end a process between the two steps.
provider_change_returned = Signal()

# Recorded when a change's read-back disagrees with what was asked; it shares the change's
# correlation id, and a `verification.resolved` event with that id settles it.
VERIFICATION_FAILED = "verification.failed"
VERIFICATION_RESOLVED = "verification.resolved"


@dataclass(frozen=True, slots=True)
class Change[T]:
    """What a service did: the updated mirror row and whether the provider changed anything.

    `verification_failed` is set when reading the target back did not show the change.
    """

    target: T
    changed: bool
    correlation_id: str
    verification_failed: bool = False
    preview: Preview | None = None


@dataclass(frozen=True, slots=True)
class Preview:
    """What a change would do, worked out without writing anything or calling the provider."""

    event_type: str
    before: Any
    after: Any
    provider_call: str
    supported: bool
    approval_needed: bool = False
    blast_radius: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Call:
    """Who acts, through what channel, under which correlation id, with what extra audit data."""

    actor: Actor
    via: str = ""
    correlation_id: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    # A dry run checks everything a change checks and records nothing.
    preview: bool = False
    # The system itself acting on a schedule (no actor, no permission to check).
    system: bool = False

    def event(self, **kwargs: Any) -> None:
        """Record an event on behalf of this call (nothing in a dry run)."""
        if self.preview:
            return
        data = {**self.data, **kwargs.pop("data", {})}
        record_event(
            actor=self.actor,
            via=self.via,
            correlation_id=self.correlation_id,
            data=data,
            **kwargs,
        )


def new_correlation_id() -> str:
    """A fresh id tying together the events of one change."""
    return str(uuid.uuid4())


def start_call(
    actor: Actor,
    *,
    via: str = "",
    correlation_id: str = "",
    request: models.Model | None = None,
    preview: bool = False,
) -> Call:
    """The Call for one service invocation; `request` is the approval it executes, if any."""
    data: dict[str, Any] = {"request": request.pk} if request is not None else {}
    return Call(actor, via, correlation_id or new_correlation_id(), data, preview)


def has_perm(actor: Actor, permission: str) -> bool:
    """Whether the actor (None for the system) holds a permission."""
    return actor is not None and actor.is_active and actor.has_perm(permission)


def deny(
    call: Call,
    event_type: str,
    code: ErrorCode,
    *,
    target: models.Model | None = None,
    message: str | None = None,
    errors: list[FieldError] | None = None,
    reason: str = "",
    data: dict[str, Any] | None = None,
) -> KarmoError:
    """Record a denied attempt and return the error to raise."""
    error = KarmoError(code, message, errors=errors)
    details: dict[str, Any] = {"message": error.message, **(data or {})}
    if errors:
        details["errors"] = [{"detail": e.detail, "pointer": e.pointer} for e in errors]
    call.event(
        event_type=event_type,
        outcome=Outcome.DENIED,
        target=target,
        error_code=code.code,
        reason=reason,
        data=details,
    )
    return error


def require(
    call: Call, permission: str, event_type: str, target: models.Model | None = None
) -> None:
    """Raise (after recording the denial) unless the actor holds the permission."""
    if not has_perm(call.actor, permission):
        raise deny(
            call,
            event_type,
            ErrorCode.PERMISSION_DENIED,
            target=target,
            data={"permission": permission},
        )


def require_in_scope(call: Call, event_type: str, target: models.Model | None) -> None:
    """Raise (after recording it) the target's not-found error unless it is in the actor's scope.

    Checked before permissions, so an out-of-scope target answers exactly like a missing one;
    an actor that is not an active user has no permission at all and is refused as such.
    """
    actor = call.actor
    if target is None or actor is None or not actor.is_active:
        return
    if scopes.contains(actor, target):
        return
    raise deny(
        call,
        event_type,
        scopes.not_found_code(target),
        target=target,
        data={"out_of_scope": True},
    )


def noop[T: models.Model](
    call: Call, event_type: str, target: T, state: Any, reason: str = ""
) -> Change[T]:
    """Record that nothing needed doing; no provider call is made."""
    call.event(
        event_type=event_type,
        outcome=Outcome.NOOP,
        target=target,
        reason=reason,
        before=state,
        after=state,
    )
    preview = None
    if call.preview:
        preview = Preview(event_type, state, state, provider_call="", supported=True)
    return Change(target, False, call.correlation_id, preview=preview)


@dataclass(frozen=True, slots=True)
class Step:
    """One state-changing provider call and how its answer lands in the mirror."""

    event_type: str
    capability: Capability
    target: models.Model | None
    call: Callable[[Provider], Result[Any]]
    # Runs inside the outcome's transaction: (mirror provider key, answer) -> updated row.
    apply: Callable[[str, Any], models.Model]
    snapshot: Callable[[Any], Any]
    before: Any = None
    reason: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    read_back: ReadBack | None = None
    # What the target should look like afterwards, for a dry run (default: before + read_back).
    expected: Any = None
    blast_radius: dict[str, Any] | None = None


def open_provider(call: Call, step: Step) -> Provider:
    """The configured provider, after checking it offers the step's capability."""
    try:
        provider = get_provider()
    except ProviderNotConfigured as exc:
        error = from_provider_error(exc, "")
        _failed(call, step, error, data={"message": error.message})
        raise error from exc
    if step.capability not in provider.capabilities:
        provider.close()
        why = provider.unsupported_reasons.get(step.capability) or str(step.capability)
        error = KarmoError(
            ErrorCode.UNSUPPORTED_BY_PROVIDER,
            f"{ErrorCode.UNSUPPORTED_BY_PROVIDER.message} ({provider.name}: {why})",
            meta={"provider": provider.name, "capability": str(step.capability)},
        )
        _failed(call, step, error, data={"message": error.message, "provider": provider.name})
        raise error
    return provider


def dry_run(call: Call, step: Step) -> Change[Any]:
    """The preview of a step: the provider is built (no request is sent) to ask what it supports."""
    try:
        provider = get_provider()
    except ProviderNotConfigured as exc:
        error = from_provider_error(exc, "")
        raise error from exc
    supported = step.capability in provider.capabilities
    provider.close()
    after = step.expected
    if after is None and step.read_back is not None:
        after = {**(step.before or {}), **step.read_back.wanted}
        if "raw_status" in after:
            after["raw_status"] = None  # the provider's own word, known once it answers
    target_id = getattr(step.target, "external_id", "")
    preview = Preview(
        event_type=step.event_type,
        before=step.before,
        after=after,
        provider_call=f"{provider.name}.{step.capability}({target_id})",
        supported=supported,
        approval_needed=bool(call.data.get("approval_needed")),
        blast_radius=step.blast_radius,
    )
    return Change(step.target, True, call.correlation_id, preview=preview)


def run(call: Call, step: Step) -> Change[Any]:
    """Record the attempt, call the provider outside any transaction, then record the outcome."""
    if call.preview:
        return dry_run(call, step)
    provider = open_provider(call, step)
    data = {**step.data, "provider": provider.name}
    attempt = record_event(
        event_type=step.event_type,
        outcome=Outcome.ATTEMPTED,
        actor=call.actor,
        via=call.via,
        correlation_id=call.correlation_id,
        target=step.target,
        reason=step.reason,
        before=step.before,
        data={**call.data, **data},
    )
    data["attempt"] = attempt.sequence
    mismatch = None
    try:
        result = step.call(provider)
        if result.changed and step.read_back and settings.KARMO_VERIFY_AFTER_CHANGE:
            mismatch = check(provider, step.read_back, result.value)
    except ProviderError as exc:
        error = from_provider_error(exc, provider.name)
        _failed(call, step, error, data={**data, "message": error.message})
        raise error from exc
    finally:
        provider.close()
    provider_change_returned.send(
        sender=step.event_type, result=result, correlation_id=call.correlation_id
    )
    # The mirror follows what the provider shows, not what it claimed.
    value = result.value if mismatch is None or mismatch.value is None else mismatch.value
    with transaction.atomic():
        lock_chain()
        row = step.apply(settings.KARMO_PROVIDER, value)
        if not outcome_recorded(call.correlation_id, attempt.sequence):
            call.event(
                event_type=step.event_type,
                outcome=Outcome.SUCCEEDED,
                target=row,
                reason=step.reason,
                provider_request_id=result.request_id,
                before=step.before,
                after=step.snapshot(row),
                data={**data, "changed": result.changed},
            )
        if mismatch is not None:
            _verification_failed(call, step, row, mismatch, data)
    return Change(row, result.changed, call.correlation_id, mismatch is not None)


def _verification_failed(
    call: Call, step: Step, row: models.Model, mismatch: Mismatch, data: dict[str, Any]
) -> None:
    """Record that the provider accepted a change its own read-back does not show."""
    call.event(
        event_type=VERIFICATION_FAILED,
        outcome=Outcome.FAILED,
        target=row,
        error_code=mismatch.error_code or ErrorCode.VERIFICATION_FAILED.code,
        before=mismatch.wanted,
        after=mismatch.observed,
        data={
            **data,
            "change": step.event_type,
            "message": mismatch.message or ErrorCode.VERIFICATION_FAILED.message,
        },
    )


def outcome_recorded(correlation_id: str, attempt_sequence: int) -> bool:
    """Whether the attempt already has its outcome (reconcile may settle a slow one first)."""
    return AuditEvent.objects.filter(
        correlation_id=correlation_id,
        outcome__in=[Outcome.SUCCEEDED, Outcome.FAILED],
        data__attempt=attempt_sequence,
    ).exists()


def _failed(call: Call, step: Step, error: KarmoError, *, data: dict[str, Any]) -> None:
    call.event(
        event_type=step.event_type,
        outcome=Outcome.FAILED,
        target=step.target,
        reason=step.reason,
        error_code=error.code.code,
        provider_request_id=error.provider_request_id,
        before=step.before,
        data={**step.data, **data},
    )

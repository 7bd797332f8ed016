"""Reactivation requests: asked for by help desk, decided by a manager, executed by the service."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Model
from django.tasks import TaskResult, task
from django.utils import timezone

from accounts import notifications, permissions
from accounts.context import audit_context
from accounts.errors import ErrorCode, FieldError, KarmoError
from accounts.models import (
    Channel,
    MirrorStatus,
    Organization,
    OrganizationMembership,
    Outcome,
    ProviderUser,
    ReactivationRequest,
    RequestStatus,
    TargetType,
)
from accounts.scheduling import book_once
from accounts.services import limits
from accounts.services.flow import (
    Actor,
    Call,
    Change,
    deny,
    require,
    require_in_scope,
    start_call,
)
from accounts.services.lifecycle import (
    ACTIVATE_USER,
    REACTIVATE_MEMBERSHIP,
    REACTIVATE_ORGANIZATION,
    change_status,
    reactivate_until,
)
from accounts.sync.heartbeat import end_silent_runs

TARGETS = {
    OrganizationMembership: (TargetType.MEMBERSHIP, "membership", REACTIVATE_MEMBERSHIP),
    ProviderUser: (TargetType.USER, "provider_user", ACTIVATE_USER),
    Organization: (TargetType.ORGANIZATION, "organization", REACTIVATE_ORGANIZATION),
}
BY_TYPE = {target_type: (model, field, op) for model, (target_type, field, op) in TARGETS.items()}


class ExecutionFailed(KarmoError):
    """The approved request was carried out, the provider refused or failed, and it is failed.

    Raised only for callers that ask (`raise_failure=True`), which answer with the provider's
    error instead of the request.
    """

    def __init__(self, error: KarmoError, request: ReactivationRequest) -> None:
        super().__init__(
            error.code,
            error.message,
            errors=error.errors,
            meta=dict(error.meta),
            retry_after=error.retry_after,
            provider_request_id=error.provider_request_id,
        )
        self.request = request


def request_state(request: ReactivationRequest) -> dict[str, Any]:
    """What the audit log keeps of a request."""
    return {
        "status": request.status,
        "target": request.target_label,
        "target_key": request.target_key,
        "requested_by": request.requested_by.get_username(),
        "expires_at": request.expires_at.isoformat(),
        "decided_by": request.decided_by.get_username() if request.decided_by_id else None,
        "error_code": request.error_code,
        **({"access_until": request.access_until.isoformat()} if request.access_until else {}),
        **({"access_duration": str(request.access_duration)} if request.access_duration else {}),
    }


def target_of(request: ReactivationRequest) -> Model:
    """The mirror row a request names, freshly read."""
    model, field, _ = BY_TYPE[TargetType(request.target_type)]
    return model.objects.get(pk=getattr(request, f"{field}_id"))


def _call(actor: Actor, request: ReactivationRequest, via: str) -> Call:
    return Call(actor, via, request.correlation_id, {"request": request.pk})


def request_reactivation(
    *,
    actor: Actor,
    target: Model,
    reason: str,
    via: str = "",
    until: datetime | None = None,
    duration: timedelta | None = None,
) -> ReactivationRequest:
    """Ask a manager to reactivate an inactive membership, user or organization.

    A membership may be asked for until a moment or for a duration (counted from approval).
    """
    event_type = "request.created"
    call = start_call(actor, via=via)
    reason = (reason or "").strip()
    require_in_scope(call, event_type, target)
    require(call, permissions.REQUEST_REACTIVATION, event_type, target)
    if type(target) not in TARGETS:
        raise deny(call, event_type, ErrorCode.BAD_REQUEST, message="This cannot be reactivated.")
    _check_time_limit(call, event_type, target, until, duration)
    if not reason:
        errors = [FieldError(ErrorCode.REASON_REQUIRED.message, "/reason")]
        raise deny(call, event_type, ErrorCode.REASON_REQUIRED, target=target, errors=errors)
    if target.status == MirrorStatus.PENDING and isinstance(target, OrganizationMembership):
        raise deny(
            call, event_type, ErrorCode.PENDING_CANNOT_REACTIVATE, target=target, reason=reason
        )
    if target.status != MirrorStatus.INACTIVE:
        raise deny(
            call,
            event_type,
            ErrorCode.STATE_CONFLICT,
            message=f"Only an inactive target can be reactivated; this one is {target.status}.",
            target=target,
            reason=reason,
        )
    target_type, field, _ = TARGETS[type(target)]
    request = ReactivationRequest(
        target_type=target_type,
        requested_by=actor,
        reason=reason,
        expires_at=timezone.now() + timedelta(hours=settings.KARMO_REQUEST_EXPIRY_HOURS),
        correlation_id=call.correlation_id,
        access_until=until,
        access_duration=duration,
        **{field: target},
    )
    try:
        with transaction.atomic():
            request.save()
            call.event(
                event_type=event_type,
                outcome=Outcome.REQUESTED,
                target=request,
                reason=reason,
                after=request_state(request),
                data={"request": request.pk},
            )
            notifications.request_created(request)
    except IntegrityError:
        existing = ReactivationRequest.objects.open().filter(target_key=request.target_key).first()
        raise deny(
            call,
            event_type,
            ErrorCode.OPEN_REQUEST_EXISTS,
            target=target,
            reason=reason,
            data={"open_request": existing.pk if existing else None},
        ) from None
    return request


def _check_time_limit(
    call: Call,
    event_type: str,
    target: Model,
    until: datetime | None,
    duration: timedelta | None,
) -> None:
    """Refuse (audited) an end of access that is not one valid limit on a membership."""
    if until is None and duration is None:
        return
    try:
        limits.check_request(isinstance(target, OrganizationMembership), until, duration)
    except KarmoError as error:
        raise deny(
            call, event_type, error.code, target=target, message=error.message, errors=error.errors
        ) from None


def approve_request(
    *,
    actor: Actor,
    request: ReactivationRequest,
    via: str = "",
    raise_failure: bool = False,
    comment: str = "",
) -> ReactivationRequest:
    """Approve a pending request and carry it out; exactly one of concurrent approvals wins.

    A failed execution leaves the request failed; with `raise_failure` it also raises
    ExecutionFailed carrying the provider's error. `comment` (optional) is kept as the
    decision's comment, as a rejection's is.
    """
    event_type = "request.approved"
    call = _call(actor, request, via)
    _check_decider(call, event_type, request)
    now = timezone.now()
    won = _transition(
        call,
        event_type,
        request,
        when={"status": RequestStatus.PENDING, "expires_at__gt": now},
        to={
            "status": RequestStatus.APPROVED,
            "decided_by": actor,
            "decided_at": now,
            "decision_comment": (comment or "").strip(),
        },
        reason=request.reason,
    )
    if not won:
        raise _not_pending(call, event_type, request, now)
    return _execute(call, request, raise_failure=raise_failure)


def preview_approval(*, actor: Actor, request: ReactivationRequest, via: str = "") -> Change[Any]:
    """What approving would do, checked as an approval is; nothing is sent, written or audited."""
    event_type = "request.approved"
    call = replace(_call(actor, request, via), preview=True)
    _check_decider(call, event_type, request)
    if request.status != RequestStatus.PENDING:
        message = f"This request is already {request.status}."
        raise KarmoError(ErrorCode.ALREADY_DECIDED, message)
    if request.expires_at <= timezone.now():
        raise KarmoError(ErrorCode.REQUEST_EXPIRED)
    return _carry_out(call, request)


def reject_request(
    *, actor: Actor, request: ReactivationRequest, comment: str, via: str = ""
) -> ReactivationRequest:
    """Reject a pending request with a comment for the requester."""
    event_type = "request.rejected"
    call = _call(actor, request, via)
    _check_decider(call, event_type, request)
    comment = (comment or "").strip()
    if not comment:
        errors = [FieldError(ErrorCode.COMMENT_REQUIRED.message, "/comment")]
        raise deny(call, event_type, ErrorCode.COMMENT_REQUIRED, target=request, errors=errors)
    now = timezone.now()
    won = _transition(
        call,
        event_type,
        request,
        when={"status": RequestStatus.PENDING, "expires_at__gt": now},
        to={
            "status": RequestStatus.REJECTED,
            "decided_by": actor,
            "decided_at": now,
            "decision_comment": comment,
        },
        reason=comment,
        notify=True,
    )
    if not won:
        raise _not_pending(call, event_type, request, now)
    return request


def cancel_request(
    *, actor: Actor, request: ReactivationRequest, via: str = ""
) -> ReactivationRequest:
    """Withdraw one's own pending request."""
    event_type = "request.cancelled"
    call = _call(actor, request, via)
    require_in_scope(call, event_type, request)
    if actor is None or request.requested_by_id != actor.pk:
        raise deny(
            call,
            event_type,
            ErrorCode.PERMISSION_DENIED,
            message="Only the requester can cancel a request.",
            target=request,
        )
    now = timezone.now()
    won = _transition(
        call,
        event_type,
        request,
        when={"status": RequestStatus.PENDING},
        to={"status": RequestStatus.CANCELLED, "decided_at": now},
    )
    if not won:
        raise _not_pending(call, event_type, request, now)
    return request


def retry_request(
    *, actor: Actor, request: ReactivationRequest, via: str = ""
) -> ReactivationRequest:
    """Carry out an approved request whose execution failed, without a new request."""
    event_type = "request.retried"
    call = _call(actor, request, via)
    require_in_scope(call, event_type, request)
    require(call, permissions.APPROVE_REQUESTS, event_type, request)
    won = _transition(
        call,
        event_type,
        request,
        when={"status": RequestStatus.FAILED},
        to={"status": RequestStatus.APPROVED, "error_code": "", "error_message": ""},
    )
    if not won:
        request.refresh_from_db()
        raise deny(
            call,
            event_type,
            ErrorCode.STATE_CONFLICT,
            message=f"Only a failed request can be retried; this one is {request.status}.",
            target=request,
        )
    return _execute(call, request)


def _transition(
    call: Call,
    event_type: str,
    request: ReactivationRequest,
    *,
    when: dict[str, Any],
    to: dict[str, Any],
    reason: str = "",
    notify: bool = False,
) -> bool:
    """Move the request from `when` to `to` and audit it; False when it was no longer in `when`.

    The conditional UPDATE is the claim: only one of concurrent transactions sees the row match.
    """
    with transaction.atomic():
        won = ReactivationRequest.objects.filter(pk=request.pk, **when).update(**to)
        if won:
            request.refresh_from_db()
            call.event(
                event_type=event_type,
                outcome=Outcome.SUCCEEDED,
                target=request,
                reason=reason,
                after=request_state(request),
            )
            if notify:
                notifications.request_decided(request)
    return bool(won)


def expire_requests(*, now: datetime | None = None) -> int:
    """Close pending requests past their expiry; they are never executed. Returns how many."""
    now = now or timezone.now()
    due = ReactivationRequest.objects.pending().filter(expires_at__lte=now)
    return sum(_expire(pk, now) for pk in due.values_list("pk", flat=True))


def _expire(pk: int, now: datetime) -> bool:
    with transaction.atomic():
        if not ReactivationRequest.objects.filter(
            pk=pk, status=RequestStatus.PENDING, expires_at__lte=now
        ).update(status=RequestStatus.EXPIRED, decided_at=now):
            return False
        request = ReactivationRequest.objects.get(pk=pk)
        _call(None, request, "").event(
            event_type="request.expired",
            outcome=Outcome.SUCCEEDED,
            target=request,
            after=request_state(request),
        )
        notifications.request_decided(request)
    return True


@task
def expire_requests_task() -> int:
    """The expiry sweep as a Django task; it books its own next run before sweeping."""
    schedule_expiry_sweep()  # first, so a failing sweep still leaves the next one booked
    with audit_context(via=Channel.TASK):
        end_silent_runs()  # the recurring sweep also ends syncs whose process died
        return expire_requests()


def schedule_expiry_sweep() -> TaskResult | None:
    """Book the sweep KARMO_EXPIRY_SWEEP_MINUTES from now unless a sweep is already waiting.

    Returns the waiting or new result; None when the interval is 0 or the task backend is not
    django-tasks-db's queue (which is what keeps a booking across restarts).
    """
    minutes = settings.KARMO_EXPIRY_SWEEP_MINUTES
    if minutes <= 0:
        return None
    return book_once(expire_requests_task, timedelta(minutes=minutes))


def finish_request(
    call: Call, request: ReactivationRequest, error: KarmoError | None, changed: bool = True
) -> ReactivationRequest:
    """Mark an approved request executed or failed, record it and tell the requester."""
    with transaction.atomic():
        request = ReactivationRequest.objects.select_for_update().get(pk=request.pk)
        if error is None:
            request.status = RequestStatus.EXECUTED
            request.executed_at = timezone.now()
            request.error_code = request.error_message = ""
        else:
            request.status = RequestStatus.FAILED
            request.error_code = error.code.code
            request.error_message = error.message
        request.save(update_fields=["status", "executed_at", "error_code", "error_message"])
        call.event(
            event_type="request.executed" if error is None else "request.failed",
            outcome=Outcome.SUCCEEDED if error is None else Outcome.FAILED,
            target=request,
            error_code=request.error_code,
            after=request_state(request),
            data={"changed": changed} if error is None else {"message": error.message},
        )
        notifications.request_decided(request)
    return request


def _execute(
    call: Call, request: ReactivationRequest, *, raise_failure: bool = False
) -> ReactivationRequest:
    try:
        change = _carry_out(call, request)
    except KarmoError as error:
        failed = finish_request(call, request, error)
        if raise_failure:
            raise ExecutionFailed(error, failed) from error
        return failed
    return finish_request(call, request, None, change.changed)


def _carry_out(call: Call, request: ReactivationRequest) -> Change[Any]:
    _, _, op = BY_TYPE[TargetType(request.target_type)]
    target = target_of(request)
    until = limits.end_of(request, timezone.now())
    if until is not None:  # one that has passed since is refused like any past end
        return reactivate_until(call, target, request.reason, until, request)
    return change_status(op, call, target, request.reason)


def _check_decider(call: Call, event_type: str, request: ReactivationRequest) -> None:
    require_in_scope(call, event_type, request)
    require(call, permissions.APPROVE_REQUESTS, event_type, request)
    if call.actor is not None and request.requested_by_id == call.actor.pk:
        raise deny(call, event_type, ErrorCode.SELF_APPROVAL, target=request)


def _not_pending(
    call: Call, event_type: str, request: ReactivationRequest, now: datetime
) -> KarmoError:
    request.refresh_from_db()
    if request.status == RequestStatus.PENDING and request.expires_at <= now:
        error = deny(call, event_type, ErrorCode.REQUEST_EXPIRED, target=request)
        _expire(request.pk, now)  # closed now rather than at the next sweep
        request.refresh_from_db()
        return error
    return deny(
        call,
        event_type,
        ErrorCode.ALREADY_DECIDED,
        message=f"This request is already {request.status}.",
        target=request,
        data={"status": request.status},
    )

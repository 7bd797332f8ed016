"""Time limits on reactivated memberships: reading "until", starting and closing a limit."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime, parse_duration

from accounts.errors import ErrorCode, FieldError, KarmoError
from accounts.models import (
    AccessState,
    OrganizationMembership,
    Outcome,
    ReactivationRequest,
    TimedAccess,
)
from accounts.services.flow import Call

# "8h", "90m", "7d", "2w" (or with a space, "7 d"): what staff type in the console.
_SHORT = re.compile(r"^\s*(\d{1,6})\s*([mhdw])\s*$", re.IGNORECASE)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def limit_state(limit: TimedAccess) -> dict[str, Any]:
    """What the audit log keeps of a time limit."""
    return {
        "until": limit.until.isoformat(),
        "state": limit.state,
        "request": limit.request_id,
    }


def longest() -> timedelta:
    """The longest time-bound access KARMO_TIME_LIMIT_MAX_DAYS allows."""
    return timedelta(days=settings.KARMO_TIME_LIMIT_MAX_DAYS)


def _invalid(code: ErrorCode, pointer: str, detail: str, message: str | None = None) -> KarmoError:
    return KarmoError(code, message, errors=[FieldError(detail, pointer)])


def check_duration(duration: timedelta, *, pointer: str = "/duration") -> timedelta:
    """A duration is positive and at most the configured maximum."""
    if duration <= timedelta(0):
        raise _invalid(ErrorCode.INVALID_TIME_LIMIT, pointer, "must be longer than zero")
    if duration > longest():
        days = settings.KARMO_TIME_LIMIT_MAX_DAYS
        raise _invalid(
            ErrorCode.TIME_LIMIT_TOO_LONG,
            pointer,
            f"must be at most {days} days",
            f"Time-bound access lasts at most {days} days (KARMO_TIME_LIMIT_MAX_DAYS).",
        )
    return duration


def check_until(
    until: datetime, *, now: datetime | None = None, pointer: str = "/until"
) -> datetime:
    """An end of access in the future and within the configured maximum from now."""
    now = now or timezone.now()
    if until <= now:
        raise _invalid(ErrorCode.INVALID_TIME_LIMIT, pointer, "must be in the future")
    check_duration(until - now, pointer=pointer)
    return until


def check_request(for_membership: bool, until: datetime | None, duration: timedelta | None) -> None:
    """A request's time limit, if any: on a membership, one of the two, within range."""
    if until is None and duration is None:
        return
    if not for_membership:
        pointer = "/until" if until is not None else "/duration"
        raise _invalid(ErrorCode.TIME_LIMIT_MEMBERSHIP_ONLY, pointer, "is only for a membership")
    if until is not None and duration is not None:
        raise _invalid(
            ErrorCode.INVALID_TIME_LIMIT,
            "/duration",
            "give either until or duration",
            "Give either an end of access or a duration, not both.",
        )
    if until is not None:
        check_until(until)
    else:
        check_duration(duration)  # type: ignore[arg-type]


def parse_limit(
    text: str, *, now: datetime | None = None, pointer: str = "/until"
) -> tuple[datetime | None, timedelta | None]:
    """What staff typed as (until, duration): a duration (8h, 7d, P7D) or a UTC date-time."""
    now = now or timezone.now()
    text = (text or "").strip()
    short = _SHORT.match(text)
    duration = None
    if short:
        duration = timedelta(**{_UNITS[short.group(2).lower()]: int(short.group(1))})
    elif text.upper().startswith("P"):
        duration = parse_duration(text.upper())
    if duration is not None:
        return None, check_duration(duration, pointer=pointer)
    try:
        moment = parse_datetime(text.replace(" ", "T", 1))
    except ValueError:
        moment = None
    if moment is None:
        raise _invalid(ErrorCode.INVALID_TIME_LIMIT, pointer, "is not a date-time or duration")
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)  # the console shows and takes UTC
    return check_until(moment, now=now, pointer=pointer), None


def parse_until(text: str, *, now: datetime | None = None, pointer: str = "/until") -> datetime:
    """The end of access from what staff typed, a duration counted from now."""
    now = now or timezone.now()
    until, duration = parse_limit(text, now=now, pointer=pointer)
    return until if until is not None else now + duration  # type: ignore[operator]


def end_of(request: ReactivationRequest, now: datetime) -> datetime | None:
    """When access granted by carrying out `request` now ends (None: no limit)."""
    if request.access_duration is not None:
        return now + request.access_duration
    return request.access_until


def running(membership: OrganizationMembership) -> TimedAccess | None:
    """The membership's running time limit, if any."""
    return TimedAccess.objects.running().filter(membership=membership).first()


def start(
    call: Call,
    membership: OrganizationMembership,
    until: datetime,
    request: ReactivationRequest | None = None,
) -> TimedAccess:
    """Record that the just-reactivated membership ends at `until` (replacing a stale limit)."""
    with transaction.atomic():
        close(call, membership, AccessState.ENDED)
        limit = TimedAccess.objects.create(
            membership=membership,
            request=request,
            granted_by=call.actor if getattr(call.actor, "pk", None) else None,
            until=until,
            correlation_id=call.correlation_id,
        )
        call.event(
            event_type="access.limited",
            outcome=Outcome.SUCCEEDED,
            target=membership,
            after=limit_state(limit),
            data={"time_limit": limit.pk},
        )
    # Imported here: the task deactivates through lifecycle, which imports this module.
    from accounts.time_limits import schedule_time_limits

    transaction.on_commit(schedule_time_limits, robust=True)
    return limit


def close(
    call: Call, membership: OrganizationMembership, state: AccessState, reason: str = ""
) -> TimedAccess | None:
    """End the membership's running limit (after a deactivation), recording why."""
    with transaction.atomic():
        limit = TimedAccess.objects.select_for_update().running().filter(membership=membership)
        found = limit.first()
        if found is None:
            return None
        before = limit_state(found)
        found.state = state
        found.ended_at = timezone.now()
        found.ended_by = call.actor if getattr(call.actor, "pk", None) else None
        found.save(update_fields=["state", "ended_at", "ended_by"])
        call.event(
            event_type="access.expired" if state == AccessState.EXPIRED else "access.ended",
            outcome=Outcome.SUCCEEDED,
            target=membership,
            reason=reason,
            before=before,
            after=limit_state(found),
            data={"time_limit": found.pk},
        )
    return found

"""Time-bound access after it starts: extend, end early, remind, and the task that ends it."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.tasks import TaskResult, task
from django.utils import timezone

from accounts import notifications, permissions
from accounts.context import audit_context
from accounts.errors import ErrorCode, KarmoError
from accounts.models import (
    Channel,
    OrganizationMembership,
    Outcome,
    TimedAccess,
)
from accounts.scheduling import book_once
from accounts.services import limits
from accounts.services.flow import (
    Actor,
    Call,
    Change,
    Preview,
    deny,
    require,
    require_in_scope,
    start_call,
)
from accounts.services.lifecycle import deactivate_membership

logger = logging.getLogger("karmo.access")

# Reminders to the requester, most urgent first: (name, how long before the end).
NOTICES = (("hour", timedelta(hours=1)), ("day", timedelta(days=1)))
SYSTEM_REASON = "Time-bound access ended."


def _running_or_deny(
    call: Call, event_type: str, membership: OrganizationMembership
) -> TimedAccess:
    found = limits.running(membership)
    if found is None:
        raise deny(call, event_type, ErrorCode.NO_TIME_LIMIT, target=membership)
    return found


def extend_access(
    *,
    actor: Actor,
    membership: OrganizationMembership,
    until: datetime,
    reason: str = "",
    via: str = "",
    preview: bool = False,
) -> Change[OrganizationMembership]:
    """Move the end of a membership's time-bound access (managers); reminders are sent anew."""
    event_type = "access.extended"
    call = start_call(actor, via=via, preview=preview)
    require_in_scope(call, event_type, membership)
    require(call, permissions.REACTIVATE_DIRECTLY, event_type, membership)
    limit = _running_or_deny(call, event_type, membership)
    try:
        limits.check_until(until)
    except KarmoError as error:
        raise deny(
            call,
            event_type,
            error.code,
            target=membership,
            message=error.message,
            errors=error.errors,
            reason=reason,
        ) from None
    before = limits.limit_state(limit)
    if preview:
        after = {**before, "until": until.isoformat()}
        shown = Preview(event_type, before, after, provider_call="", supported=True)
        return Change(membership, True, call.correlation_id, preview=shown)
    with transaction.atomic():
        won = (
            TimedAccess.objects.running()
            .filter(pk=limit.pk)
            .update(until=until, day_notice_at=None, hour_notice_at=None)
        )
        if not won:
            raise deny(call, event_type, ErrorCode.NO_TIME_LIMIT, target=membership)
        limit.refresh_from_db()
        call.event(
            event_type=event_type,
            outcome=Outcome.SUCCEEDED,
            target=membership,
            reason=(reason or "").strip(),
            before=before,
            after=limits.limit_state(limit),
            data={"time_limit": limit.pk, "request": limit.request_id},
        )
    return Change(membership, True, call.correlation_id)


def end_access(
    *,
    actor: Actor,
    membership: OrganizationMembership,
    reason: str = "",
    via: str = "",
    preview: bool = False,
) -> Change[OrganizationMembership]:
    """End time-bound access now: deactivate the membership through the service (managers)."""
    call = start_call(actor, via=via, preview=preview)
    require_in_scope(call, "access.ended", membership)
    require(call, permissions.DEACTIVATE_ACCESS, "access.ended", membership)
    limit = _running_or_deny(call, "access.ended", membership)
    call = replace(call, data={"request": limit.request_id, "time_limit": limit.pk})
    return deactivate_membership(actor=actor, membership=membership, reason=reason, call=call)


@dataclass(frozen=True, slots=True)
class SweepResult:
    """What one run of the task did."""

    expired: int = 0
    failed: int = 0
    reminded: int = 0


def expire_due(*, now: datetime | None = None) -> tuple[int, int]:
    """Deactivate memberships whose time limit has passed, as the system. (ended, failed)."""
    now = now or timezone.now()
    ended = failed = 0
    due = TimedAccess.objects.running().filter(until__lte=now).select_related("membership")
    for limit in due:
        call = Call(
            None,
            Channel.TASK,
            limit.correlation_id or "",
            {"request": limit.request_id, "time_limit": limit.pk},
            system=True,
        )
        try:
            deactivate_membership(
                actor=None, membership=limit.membership, reason=SYSTEM_REASON, call=call
            )
        except KarmoError:
            # Recorded as a failed outcome by the service; the next run tries again.
            logger.warning("time limit %s: deactivation failed", limit.pk, exc_info=True)
            failed += 1
            continue
        ended += 1
    return ended, failed


def send_reminders(*, now: datetime | None = None) -> int:
    """Tell requesters a day and an hour before their access ends; each reminder once."""
    now = now or timezone.now()
    sent = 0
    for name, ahead in NOTICES:
        field = f"{name}_notice_at"
        due = TimedAccess.objects.running().filter(
            until__gt=now, until__lte=now + ahead, **{f"{field}__isnull": True}
        )
        for pk in due.values_list("pk", flat=True):
            sent += _remind(pk, name, field, now)
    return sent


def _remind(pk: int, name: str, field: str, now: datetime) -> int:
    with transaction.atomic():
        # Claiming the row is what makes the reminder go once, whatever runs at the same time.
        claim = {field: now}
        if name == "hour":
            claim["day_notice_at"] = now  # the day reminder is moot once the hour one is sent
        won = TimedAccess.objects.running().filter(pk=pk, **{f"{field}__isnull": True})
        if not won.update(**claim):
            return 0
        limit = TimedAccess.objects.select_related(
            "membership__user", "membership__organization", "request__requested_by", "granted_by"
        ).get(pk=pk)
        recipient = notifications.access_ending(limit, name)
        Call(None, Channel.TASK, limit.correlation_id).event(
            event_type="access.reminded",
            outcome=Outcome.SUCCEEDED,
            target=limit.membership,
            after=limits.limit_state(limit),
            data={"notice": name, "to": recipient, "time_limit": pk, "request": limit.request_id},
        )
    return 1


def sweep(*, now: datetime | None = None) -> SweepResult:
    """One run: send due reminders, then end what is due."""
    now = now or timezone.now()
    reminded = send_reminders(now=now)
    expired, failed = expire_due(now=now)
    return SweepResult(expired=expired, failed=failed, reminded=reminded)


@task
def time_limits_task() -> int:
    """End time-bound access that is due and send reminders; books its own next run first."""
    schedule_time_limits()
    with audit_context(via=Channel.TASK):
        return sweep().expired


def schedule_time_limits() -> TaskResult | None:
    """Book the task KARMO_TIME_LIMIT_SWEEP_MINUTES from now unless a run is waiting.

    None when the interval is 0 or the task backend is not django-tasks-db's queue.
    """
    minutes = settings.KARMO_TIME_LIMIT_SWEEP_MINUTES
    if minutes <= 0:
        return None
    return book_once(time_limits_task, timedelta(minutes=minutes))

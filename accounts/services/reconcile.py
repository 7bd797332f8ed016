"""Settling attempts that never got an outcome, from the provider's current state.

A process that dies between the provider call and the commit leaves an `attempted` event with
no outcome. For each such attempt older than a grace period, the provider is asked for the
target's state, the mirror is updated from it, and the outcome is written (data.reconciled).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import batched
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.utils import timezone

from accounts.approvals import finish_request
from accounts.audit import lock_chain, record_event
from accounts.errors import ErrorCode, KarmoError
from accounts.models import (
    AuditEvent,
    Organization,
    OrganizationMembership,
    Outcome,
    ProviderUser,
    ReactivationRequest,
    RequestStatus,
)
from accounts.services import mirroring
from accounts.services.flow import Call, outcome_recorded
from accounts.services.lifecycle import STATUS_CHANGES
from providers.base import Provider
from providers.errors import ProviderError, ProviderNotFound
from providers.registry import get_provider

DEFAULT_GRACE = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Settler:
    """How to read one kind of attempt's target back from the provider and mirror it."""

    model: type[models.Model] | None
    read: Callable[[Provider, AuditEvent], Any]
    applied: Callable[[AuditEvent, Any], bool]
    save: Callable[[models.Model | None, Any], models.Model]
    snapshot: Callable[[Any], Any]


def _status_settler(event_type: str) -> Settler:
    op = STATUS_CHANGES[event_type]
    model, read = {
        "membership": (OrganizationMembership, lambda p, a: p.get_membership(a.target_id)),
        "user": (ProviderUser, lambda p, a: p.get_user(a.target_id)),
        "organization": (Organization, lambda p, a: p.get_organization(a.target_id)),
    }[event_type.split(".")[0]]
    return Settler(
        model,
        read,
        lambda _a, value: str(value.status) == op.wanted,
        lambda row, value: op.save(row.pk, value),
        op.snapshot,
    )


def _find_role(provider: Provider, attempt: AuditEvent) -> Any:
    slug = attempt.data.get("slug")
    return next(
        (
            r
            for r in provider.list_roles()
            if (r.organization_id, r.slug) == (attempt.target_id, slug)
        ),
        None,
    )


def _find_user(provider: Provider, attempt: AuditEvent) -> Any:
    email = str(attempt.data.get("email", "")).lower()
    return next((u for u in provider.list_users() if u.email.lower() == email), None)


SETTLERS: dict[str, Settler] = {
    **{event_type: _status_settler(event_type) for event_type in STATUS_CHANGES},
    "membership.roles_set": Settler(
        OrganizationMembership,
        lambda p, a: p.get_membership(a.target_id),
        lambda a, value: sorted(value.roles) == sorted(a.data.get("roles", [])),
        lambda row, value: mirroring.save_membership(row.pk, value),
        mirroring.membership_state,
    ),
    "role.upserted": Settler(
        Organization,
        _find_role,
        lambda a, value: value.name == a.data.get("name"),
        lambda org, value: mirroring.save_role(org, value),
        mirroring.role_state,
    ),
    "user.created": Settler(
        None,
        _find_user,
        lambda _a, _value: True,
        lambda _row, value: mirroring.save_new_user(settings.KARMO_PROVIDER, value),
        mirroring.user_state,
    ),
}


@dataclass
class Report:
    """What one reconcile run did."""

    settled: list[AuditEvent] = field(default_factory=list)
    left_open: list[tuple[AuditEvent, str]] = field(default_factory=list)


def open_attempts(*, older_than: datetime, since: datetime | None = None) -> Iterator[AuditEvent]:
    """Attempted events recorded before `older_than` that have no outcome event yet."""
    attempts = AuditEvent.objects.filter(outcome=Outcome.ATTEMPTED, occurred_at__lte=older_than)
    if since is not None:
        attempts = attempts.filter(occurred_at__gte=since)
    for chunk in batched(attempts.order_by("sequence").iterator(chunk_size=500), 500):
        settled = set(
            AuditEvent.objects.filter(
                correlation_id__in={a.correlation_id for a in chunk},
                outcome__in=[Outcome.SUCCEEDED, Outcome.FAILED],
            ).values_list("data__attempt", flat=True)
        )
        yield from (a for a in chunk if a.sequence not in settled)


def reconcile(*, grace: timedelta = DEFAULT_GRACE, since: datetime | None = None) -> Report:
    """Settle every open attempt older than `grace`; provider read failures leave it open."""
    report = Report()
    attempts = list(open_attempts(older_than=timezone.now() - grace, since=since))
    if not attempts:
        return report
    provider = get_provider()
    try:
        for attempt in attempts:
            settler = SETTLERS.get(attempt.event_type)
            if settler is None:
                report.left_open.append((attempt, "no way to read this kind of change back"))
                continue
            try:
                outcome = settle(attempt, settler, provider)
            except ProviderError as exc:
                report.left_open.append((attempt, f"provider: {exc.message}"))
                continue
            if outcome is not None:
                report.settled.append(outcome)
    finally:
        provider.close()
    return report


def settle(attempt: AuditEvent, settler: Settler, provider: Provider) -> AuditEvent | None:
    """Read the attempt's target from the provider, mirror it, and record the outcome."""
    try:
        value = settler.read(provider, attempt)
    except ProviderNotFound:
        value = None
    applied = value is not None and settler.applied(attempt, value)
    code = None
    if not applied:
        code = ErrorCode.PROVIDER_NOT_FOUND if value is None else ErrorCode.CHANGE_NOT_CONFIRMED
    actor = get_user_model().objects.filter(pk=attempt.actor_id).first()
    with transaction.atomic():
        lock_chain()
        if outcome_recorded(attempt.correlation_id, attempt.sequence):
            return None  # settled meanwhile, by the service itself or another reconcile run
        row = None
        if settler.model is not None:
            row = (
                settler.model.objects.filter(
                    provider=settings.KARMO_PROVIDER, external_id=attempt.target_id
                ).first()
                if attempt.target_id
                else None
            )
        if value is not None and (row is not None or settler.model is None):
            row = settler.save(row, value)
        after = settler.snapshot(row) if row is not None else None
        outcome = record_event(
            event_type=attempt.event_type,
            outcome=Outcome.SUCCEEDED if applied else Outcome.FAILED,
            actor=actor,
            target=row,
            reason=attempt.reason,
            error_code=code.code if code else "",
            before=attempt.before,
            after=after,
            correlation_id=attempt.correlation_id,
            data={
                **attempt.data,
                "attempt": attempt.sequence,
                "reconciled": True,
                "attempt_via": attempt.via,
                **({"message": code.message} if code else {}),
            },
        )
    request_pk = attempt.data.get("request")
    if request_pk is not None:
        _finish_request(attempt, actor, request_pk, code)
    return outcome


def _finish_request(
    attempt: AuditEvent, actor: Any, request_pk: int, code: ErrorCode | None
) -> None:
    request = ReactivationRequest.objects.filter(pk=request_pk).first()
    if request is None or request.status != RequestStatus.APPROVED:
        return
    call = Call(actor, "", attempt.correlation_id, {"request": request_pk, "reconciled": True})
    finish_request(call, request, KarmoError(code) if code else None)

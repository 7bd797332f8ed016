"""The one writer of audit events, and the verifier of their hash chain."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.cache import cache
from django.db import connection, models, transaction
from django.utils import timezone

from accounts.context import current_context
from accounts.models.audit import AuditEvent

GENESIS_HASH = "0" * 64
_PG_AUDIT_LOCK = 0x4B41524D4F  # any constant; serialises writers on PostgreSQL

HASHED_FIELDS = (
    "sequence",
    "occurred_at",
    "event_type",
    "outcome",
    "actor_id",
    "actor_repr",
    "token_id",
    "via",
    "target_type",
    "target_id",
    "target_repr",
    "organization_external_id",
    "user_external_id",
    "reason",
    "error_code",
    "provider_request_id",
    "before",
    "after",
    "data",
    "client_ip",
    "user_agent",
    "request_id",
    "correlation_id",
    "prev_hash",
)


@dataclass
class EventSpec:
    """What to record; context fields (channel, address, request id) are filled in."""

    event_type: str
    outcome: str
    actor: AbstractBaseUser | AnonymousUser | None = None
    target: models.Model | None = None
    reason: str = ""
    error_code: str = ""
    provider_request_id: str = ""
    before: Any = None
    after: Any = None
    data: dict[str, Any] = field(default_factory=dict)
    correlation_id: str = ""
    via: str = ""


def describe_target(target: models.Model | None) -> dict[str, str]:
    """Type, id, repr and the provider ids of organization and user a target concerns."""
    if target is None:
        return {}
    described = {
        "target_type": target._meta.model_name or "",
        "target_id": str(getattr(target, "external_id", "") or target.pk),
        "target_repr": str(target)[:255],
    }
    organization = getattr(target, "organization", None)
    if target._meta.model_name == "organization":
        described["organization_external_id"] = target.external_id  # type: ignore[attr-defined]
    elif organization is not None:
        described["organization_external_id"] = organization.external_id
    user = getattr(target, "user", None) or getattr(target, "provider_user", None)
    if target._meta.model_name == "provideruser":
        described["user_external_id"] = target.external_id  # type: ignore[attr-defined]
    elif user is not None and hasattr(user, "external_id"):
        described["user_external_id"] = user.external_id
    membership = getattr(target, "membership", None)
    if membership is not None:
        described["organization_external_id"] = membership.organization.external_id
        described["user_external_id"] = membership.user.external_id
    return described


def to_json(value: Any) -> Any:
    """A value as it will read back from a JSON column (datetimes become strings)."""
    if value is None:
        return None
    return json.loads(json.dumps(value, default=str))


def canonical(event: AuditEvent) -> str:
    """The event's canonical JSON: sorted keys, no whitespace, UTF-8."""
    return canonical_json({name: getattr(event, name) for name in HASHED_FIELDS})


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(payload: dict[str, Any]) -> str:
    """Canonical JSON of the hashed fields' values (occurred_at as UTC ISO 8601)."""
    occurred = payload.get("occurred_at")
    if isinstance(occurred, datetime):
        utc = occurred.astimezone(timezone.UTC).isoformat(timespec="microseconds")
        payload = {**payload, "occurred_at": utc}
    return _CANONICAL.encode(payload)


def compute_hash(event: AuditEvent) -> str:
    """SHA-256 over the previous hash and the event's canonical JSON."""
    return hashlib.sha256((event.prev_hash + canonical(event)).encode()).hexdigest()


def lock_chain() -> None:
    """Wait for, then hold until this transaction ends, the right to append to the chain.

    PostgreSQL takes an advisory lock; SQLite's IMMEDIATE transactions already serialise writers.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_PG_AUDIT_LOCK])


def _lock_chain() -> tuple[int, str]:
    lock_chain()
    last = AuditEvent.objects.order_by("-sequence").values_list("sequence", "hash").first()
    return last if last else (0, GENESIS_HASH)


def _build(spec: EventSpec, sequence: int, prev_hash: str) -> AuditEvent:
    context = current_context()
    actor = spec.actor if spec.actor is not None and spec.actor.is_authenticated else None
    event = AuditEvent(
        sequence=sequence,
        occurred_at=timezone.now(),
        event_type=spec.event_type,
        outcome=spec.outcome,
        actor=actor,
        actor_repr=actor.get_username() if actor is not None else "",
        token_id=context.token_id,
        via=spec.via or context.via,
        reason=spec.reason,
        error_code=spec.error_code,
        provider_request_id=spec.provider_request_id,
        before=to_json(spec.before),
        after=to_json(spec.after),
        data=to_json(spec.data) or {},
        client_ip=context.client_ip,
        user_agent=context.user_agent,
        request_id=context.request_id,
        correlation_id=spec.correlation_id,
        prev_hash=prev_hash,
        **describe_target(spec.target),
    )
    event.hash = compute_hash(event)
    return event


def record_events(specs: Iterable[EventSpec]) -> list[AuditEvent]:
    """Append several events in one transaction, chained in order."""
    specs = list(specs)
    if not specs:
        return []
    with transaction.atomic():
        sequence, prev_hash = _lock_chain()
        events = []
        for spec in specs:
            sequence += 1
            event = _build(spec, sequence, prev_hash)
            prev_hash = event.hash
            events.append(event)
        return AuditEvent.objects.bulk_create(events)


def record_event(**kwargs: Any) -> AuditEvent:
    """Append one event; keyword arguments are EventSpec's fields."""
    return record_events([EventSpec(**kwargs)])[0]


@dataclass(frozen=True, slots=True)
class Verification:
    """The result of walking the chain."""

    ok: bool
    count: int
    broken_at: int | None = None
    problem: str = ""


def verify_chain(chunk_size: int = 2000, anchor: tuple[int, str] | None = None) -> Verification:
    """Walk every event in order; report the first missing, altered or misplaced link.

    `anchor` (sequence, hash) is a link seen by an earlier verification: it must still be
    there unchanged, which catches a removed tail even after new events were appended.
    """
    expected_sequence = 1
    prev_hash = GENESIS_HASH
    count = 0
    # Plain rows instead of model instances: the walk is the hot loop of a million-event check.
    rows = AuditEvent.objects.order_by("sequence").values_list(*HASHED_FIELDS, "hash")
    for row in rows.iterator(chunk_size=chunk_size):
        payload = dict(zip(HASHED_FIELDS, row, strict=False))
        sequence, stored_hash = payload["sequence"], row[-1]
        if sequence != expected_sequence:
            return Verification(
                False, count, expected_sequence, f"event #{expected_sequence} is missing"
            )
        if payload["prev_hash"] != prev_hash:
            return Verification(False, count, sequence, "previous-hash link does not match")
        digest = hashlib.sha256((prev_hash + canonical_json(payload)).encode()).hexdigest()
        if digest != stored_hash:
            return Verification(False, count, sequence, "content does not match its hash")
        if anchor is not None and sequence == anchor[0] and stored_hash != anchor[1]:
            return Verification(
                False, count, sequence, "differs from the event an earlier check verified"
            )
        prev_hash = stored_hash
        expected_sequence += 1
        count += 1
    if anchor is not None and anchor[0] > count:
        return Verification(
            False,
            count,
            count + 1,
            f"event #{count + 1} is missing: an earlier check verified events up to #{anchor[0]}",
        )
    return Verification(True, count)


LAST_VERIFICATION_KEY = "audit:last_verification"
ANCHOR_KEY = "audit:verified_anchor"


def verify_and_remember() -> Verification:
    """verify_chain() against the last verified link; remember the result and, if ok, the link."""
    started = timezone.now()
    anchor = cache.get(ANCHOR_KEY)
    result = verify_chain(anchor=tuple(anchor) if anchor else None)
    cache.set(
        LAST_VERIFICATION_KEY,
        {
            "at": started.isoformat(),
            "ok": result.ok,
            "count": result.count,
            "broken_at": result.broken_at,
            "problem": result.problem,
        },
        timeout=None,
    )
    if result.ok and result.count:
        last = AuditEvent.objects.filter(sequence=result.count).values_list("hash", flat=True)
        cache.set(ANCHOR_KEY, [result.count, last.get()], timeout=None)
    return result


def last_verification() -> dict[str, Any] | None:
    """The latest verification: {"at", "ok", "count", "broken_at", "problem"}, or None."""
    return cache.get(LAST_VERIFICATION_KEY)

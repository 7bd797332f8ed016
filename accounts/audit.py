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

from accounts import audit_tree
from accounts.context import current_context
from accounts.insert_rows import insert_rows
from accounts.merkle import EMPTY_ROOT, LEAF_PREFIX, NODE_PREFIX, fold, leaf_hash
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
    if described["target_type"] == "organizationmembership":
        # By provider ids, as sync writes it without reading names; names_of() adds the names.
        user, org = target.user, target.organization  # type: ignore[attr-defined]
        described["target_repr"] = f"{user.external_id} in {org.external_id}"[:255]
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


def names_of(target: models.Model | None) -> dict[str, str]:
    """The person's email and name and the organization's name an event concerns, as they are
    when it is recorded: the log keeps reading true after renames."""
    kind = target._meta.model_name if target is not None else ""
    if kind not in _NAMED:
        return {}
    membership = target if kind == "organizationmembership" else getattr(target, "membership", None)
    person = target if kind == "provideruser" else getattr(target, "provider_user", None)
    organization = target if kind == "organization" else getattr(target, "organization", None)
    if membership is not None:
        person, organization = membership.user, membership.organization
    names = {}
    if person is not None:
        names |= {"person": person.email, "person_name": person.full_name}
    if organization is not None:
        names["organization"] = organization.name
    return names


# Kinds whose events name a person or an organization (roles name themselves by slug).
_NAMED = frozenset(
    ("organization", "provideruser", "organizationmembership", "reactivationrequest")
)


def to_json(value: Any) -> Any:
    """A value as it will read back from a JSON column (datetimes become strings, integral
    floats integers), so the hash taken before the write holds for the stored row."""
    if value is None:
        return None
    return json.loads(json.dumps(value, default=str), parse_float=_stable_float)


def _stable_float(literal: str) -> float | int:
    # jsonb stores numbers as numeric and gives 1e20 back as 100000000000000000000 and -0.0
    # as 0; a float with a fraction reads back unchanged.
    number = float(literal)
    return int(number) if number.is_integer() else number


def canonical(event: AuditEvent) -> str:
    """The event's canonical JSON: sorted keys, no whitespace, UTF-8."""
    return canonical_json({name: getattr(event, name) for name in HASHED_FIELDS})


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(payload: dict[str, Any]) -> str:
    """Canonical JSON of the hashed fields' values (occurred_at as UTC ISO 8601)."""
    occurred = payload.get("occurred_at")
    if isinstance(occurred, datetime):
        payload = {**payload, "occurred_at": _utc_iso(occurred)}
    return _CANONICAL.encode(payload)


def _utc_iso(moment: datetime) -> str:
    return moment.astimezone(timezone.UTC).isoformat(timespec="microseconds")


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
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:  # raw: this runs once per append, often for one event
        cursor.execute(
            f"SELECT {quote('sequence')}, {quote('hash')} "  # noqa: S608
            f"FROM {quote(AuditEvent._meta.db_table)} ORDER BY {quote('sequence')} DESC LIMIT 1"
        )
        last = cursor.fetchone()
    return (last[0], last[1]) if last else (0, GENESIS_HASH)


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
        data=to_json(_with_names(spec)) or {},
        client_ip=context.client_ip,
        user_agent=context.user_agent,
        request_id=context.request_id,
        correlation_id=spec.correlation_id,
        prev_hash=prev_hash,
        **describe_target(spec.target),
    )
    return event


def _with_names(spec: EventSpec) -> dict[str, Any]:
    names = names_of(spec.target)
    return {**spec.data, "names": names} if names else spec.data


def record_events(specs: Iterable[EventSpec]) -> list[AuditEvent]:
    """Append several events in one transaction, chained in order."""
    specs = list(specs)
    if not specs:
        return []
    with transaction.atomic():
        sequence, prev_hash = _lock_chain()
        first = sequence
        events, leaves = [], []
        for spec in specs:
            sequence += 1
            event = _build(spec, sequence, prev_hash)
            data = canonical(event).encode()
            event.hash = prev_hash = hashlib.sha256(prev_hash.encode() + data).hexdigest()
            leaves.append(leaf_hash(data))
            events.append(event)
        _insert(events, first)
        audit_tree.write_nodes(audit_tree.new_nodes(first, leaves))
        return events


def _insert(events: list[AuditEvent], first: int) -> None:
    """Insert built events as rows, then give each its primary key, as bulk_create would.

    Plain rows rather than bulk_create: its per-field compilation (and, on PostgreSQL, the
    arrays it binds) cost more than hashing the events did.
    """
    fields = [field for field in AuditEvent._meta.concrete_fields if not field.primary_key]
    postgres = connection.vendor == "postgresql"
    at_json = {index for index, field in enumerate(fields) if field.name in _JSON_COLUMNS}
    at_time = next(index for index, field in enumerate(fields) if field.name == "occurred_at")
    at_ip = next(index for index, field in enumerate(fields) if field.name == "client_ip")
    adapt_time = connection.ops.adapt_datetimefield_value
    encode = _CANONICAL.encode
    rows = []
    for event in events:
        row = [getattr(event, field.attname) for field in fields]
        for index in at_json:
            row[index] = None if row[index] is None else encode(row[index])
        row[at_ip] = row[at_ip] or None  # as GenericIPAddressField stores a blank address
        if not postgres:
            row[at_time] = adapt_time(row[at_time])
        rows.append(row)
    insert_rows(AuditEvent._meta.db_table, [field.column for field in fields], rows)
    quote = connection.ops.quote_name
    table = quote(AuditEvent._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {quote('id')} FROM {table} WHERE {quote('sequence')} > %s "  # noqa: S608
            f"ORDER BY {quote('sequence')}",
            [first],
        )
        for event, (pk,) in zip(events, cursor.fetchall(), strict=True):
            event.pk = pk
            event._state.adding = False
            event._state.db = connection.alias


def record_event(**kwargs: Any) -> AuditEvent:
    """Append one event; keyword arguments are EventSpec's fields."""
    return record_events([EventSpec(**kwargs)])[0]


# A described target: target_type, target_id, target_repr and, where known,
# organization_external_id and user_external_id (the keys describe_target() returns).
Described = dict[str, str]

_TARGET_FIELDS = (
    "target_type",
    "target_id",
    "target_repr",
    "organization_external_id",
    "user_external_id",
)
_COLUMNS = (*HASHED_FIELDS, "hash")
_JSON_COLUMNS = frozenset(("before", "after", "data"))
# The per-event hashed fields, in canonical (sorted) key order.
_VARIABLE = (
    "after",
    "before",
    "event_type",
    "organization_external_id",
    "prev_hash",
    "sequence",
    "target_id",
    "target_repr",
    "target_type",
    "user_external_id",
)
assert list(_VARIABLE) == sorted(_VARIABLE)
_encode_string = json.encoder.encode_basestring  # what the canonical encoder does with a str


def _canonical_parts(shared: dict[str, Any]) -> list[str]:
    """The canonical JSON of `shared` cut around each per-event field's place.

    Joined with the per-event values' JSON in between, the parts give exactly what
    canonical_json() gives for the whole event: placeholders are encoded in their sorted
    places and cut out (an encoded string cannot contain a placeholder's quoted form).
    """
    marks = {name: f"\x00{name}\x00" for name in _VARIABLE}
    text = _CANONICAL.encode({**shared, **marks})
    parts = []
    for name in _VARIABLE:
        head, text = text.split(_CANONICAL.encode(marks[name]), 1)
        parts.append(head)
    parts.append(text)
    return parts


def record_described(template: EventSpec, items: Iterable[tuple[str, Described, Any, Any]]) -> int:
    """Append one event per (event_type, described target, before, after), sharing the rest.

    The same rows and chain as record_events() would write, for bulk writers such as sync:
    one canonical encoding per event and one executemany, no model instances. `before` and
    `after` must already be JSON values (dicts, lists or tuples, strings, integers, booleans,
    None; floats only as to_json() leaves them).
    """
    items = list(items)
    if not items:
        return 0
    context = current_context()
    actor = template.actor
    actor = actor if actor is not None and actor.is_authenticated else None
    occurred_at = timezone.now()
    shared = {
        "actor_id": actor.pk if actor is not None else None,
        "actor_repr": actor.get_username() if actor is not None else "",
        "client_ip": context.client_ip,
        "correlation_id": template.correlation_id,
        "data": to_json(template.data) or {},
        "error_code": template.error_code,
        "occurred_at": _utc_iso(occurred_at),
        "outcome": template.outcome,
        "provider_request_id": template.provider_request_id,
        "reason": template.reason,
        "request_id": context.request_id,
        "token_id": context.token_id,
        "user_agent": context.user_agent,
        "via": template.via or context.via,
    }
    fields = {name: AuditEvent._meta.get_field(name) for name in _COLUMNS}
    # Column values that are the same for every row, as the database adapter wants them.
    stored = {
        name: fields[name].get_db_prep_save(value, connection)
        for name, value in shared.items()
        if name not in _JSON_COLUMNS and name != "occurred_at"
    }
    stored["occurred_at"] = connection.ops.adapt_datetimefield_value(occurred_at)
    stored["data"] = _CANONICAL.encode(shared["data"])
    parts = _canonical_parts(shared)
    base = [stored.get(name) for name in _COLUMNS]
    at = {name: _COLUMNS.index(name) for name in (*_VARIABLE, "hash")}
    encode, string, sha256 = _CANONICAL.encode, _encode_string, hashlib.sha256
    with transaction.atomic():
        sequence, prev_hash = _lock_chain()
        first = sequence
        params, leaves = [], []
        for event_type, described, before, after in items:
            sequence += 1
            target = [described.get(name, "") for name in _TARGET_FIELDS]
            after_json = None if after is None else encode(after)
            before_json = None if before is None else encode(before)
            # The pieces in canonical key order (see _VARIABLE), between the shared parts.
            text = "".join(
                (
                    parts[0],
                    after_json or "null",
                    parts[1],
                    before_json or "null",
                    parts[2],
                    string(event_type),
                    parts[3],
                    string(target[3]),
                    parts[4],
                    string(prev_hash),
                    parts[5],
                    str(sequence),
                    parts[6],
                    string(target[1]),
                    parts[7],
                    string(target[2]),
                    parts[8],
                    string(target[0]),
                    parts[9],
                    string(target[4]),
                    parts[10],
                )
            )
            data = text.encode()
            digest = sha256(prev_hash.encode() + data).hexdigest()
            leaves.append(sha256(LEAF_PREFIX + data).digest())
            row = base.copy()
            for name, value in zip(_TARGET_FIELDS, target, strict=True):
                row[at[name]] = value
            row[at["event_type"]] = event_type
            row[at["after"]] = after_json
            row[at["before"]] = before_json
            row[at["sequence"]] = sequence
            row[at["prev_hash"]] = prev_hash
            row[at["hash"]] = digest
            params.append(row)
            prev_hash = digest
        columns = [fields[name].column for name in _COLUMNS]
        insert_rows(AuditEvent._meta.db_table, columns, params)
        audit_tree.write_nodes(audit_tree.new_nodes(first, leaves))
    return len(params)


@dataclass(frozen=True, slots=True)
class Verification:
    """The result of walking the chain (and recomputing the Merkle tree on the way)."""

    ok: bool
    count: int
    broken_at: int | None = None
    problem: str = ""
    # The recomputed tree's root after `count` events and at each size asked for on the way.
    roots: dict[int, bytes] = field(default_factory=dict)


def verify_chain(chunk_size: int = 2000, roots_at: Iterable[int] = ()) -> Verification:
    """Walk every event in order; report the first missing, altered or misplaced link.

    On the way the Merkle tree is rebuilt from the events' canonical bytes, and its root is
    kept at each size in `roots_at` (and at the end) for checking against signed checkpoints.
    """
    from accounts import audit_rows  # it reads this module's encoder

    expected_sequence = 1
    prev_hash = GENESIS_HASH
    wanted = set(roots_at)
    roots: dict[int, bytes] = {0: EMPTY_ROOT} if 0 in wanted else {}
    frontier: list[bytes] = []  # the compact range's hashes; the lowest bits of the size last
    sha256, leaf_prefix, node_prefix = hashlib.sha256, LEAF_PREFIX, NODE_PREFIX
    # The hot path of a million-event check: no model instances, no per-field objects.
    for sequence, link, stored_hash, data in audit_rows.rows(chunk_size):
        if sequence != expected_sequence:
            return _broken(expected_sequence, f"event #{expected_sequence} is missing")
        if link != prev_hash:
            return _broken(sequence, "previous-hash link does not match")
        chained = prev_hash.encode()
        if sha256(chained + data).hexdigest() != stored_hash:
            data = audit_rows.canonical_of(sequence) or b""
            if sha256(chained + data).hexdigest() != stored_hash:
                return _broken(sequence, "content does not match its hash")
        digest = sha256(leaf_prefix + data).digest()
        # Appending leaf number `sequence`: merge once per trailing one bit of sequence - 1.
        merges = sequence - 1
        while merges & 1:
            digest = sha256(node_prefix + frontier.pop() + digest).digest()
            merges >>= 1
        frontier.append(digest)
        if sequence in wanted:
            roots[sequence] = fold(frontier)
        prev_hash = stored_hash
        expected_sequence += 1
    count = expected_sequence - 1
    roots[count] = fold(frontier)
    return Verification(True, count, roots=roots)


def _broken(sequence: int, problem: str) -> Verification:
    """The chain holds up to the event before `sequence`, which is the first bad link."""
    return Verification(False, sequence - 1, sequence, problem)


LAST_VERIFICATION_KEY = "audit:last_verification"


def remember_verification(started: datetime, result: Verification, against: str) -> None:
    """Keep the latest result for the console (display only: verification trusts no cache)."""
    cache.set(
        LAST_VERIFICATION_KEY,
        {
            "at": started.isoformat(),
            "ok": result.ok,
            "count": result.count,
            "broken_at": result.broken_at,
            "problem": result.problem,
            "against": against,
        },
        timeout=None,
    )


def last_verification() -> dict[str, Any] | None:
    """The latest verification: {"at", "ok", "count", "broken_at", "problem", "against"}."""
    return cache.get(LAST_VERIFICATION_KEY)

"""What one batch changes in the mirror, worked out without touching the database.

The writer thread reads what the database holds for a batch (a Lookup), and a planning thread
turns it into the rows and audit events to write (a Plan) while the writer writes the batch
before it. Nothing here may use a database connection: it runs in the planning thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from accounts.sync.kinds import Kind, Values
from accounts.sync.store import Table, read_time

# An audit event as accounts.audit.record_described takes it.
Event = tuple[str, dict[str, str], Any, Any]


class PkSet:
    """A set of primary keys as a bitmap: a few bytes per row, so memory stays flat."""

    def __init__(self) -> None:
        self._bits = bytearray()

    def add(self, pk: int) -> None:
        index = pk >> 3
        if index >= len(self._bits):
            self._bits.extend(bytes(index + 1 - len(self._bits) + len(self._bits) // 2))
        self._bits[index] |= 1 << (pk & 7)

    def __contains__(self, pk: object) -> bool:
        if not isinstance(pk, int):
            return False
        index = pk >> 3
        return index < len(self._bits) and bool(self._bits[index] & (1 << (pk & 7)))


@dataclass(frozen=True, slots=True)
class Lookup:
    """A batch's records and what the database holds for them."""

    desired: dict[str, Values]
    stored: dict[str, tuple[Any, ...]]  # rows by provider id, in Table.stored's columns
    roles: dict[int, tuple[str, ...]]  # held role slugs by membership pk
    references: dict[str, dict[str, int]]  # referenced pks by ref and provider id


@dataclass(slots=True)
class Plan:
    """The writes one batch needs: rows to insert and update, roles, audit events."""

    inserts: list[tuple[str, list[Any]]] = field(default_factory=list)
    new_roles: dict[str, tuple[int | None, tuple[str, ...]]] = field(default_factory=dict)
    updates: list[tuple[int, dict[str, Any], bool]] = field(default_factory=list)
    replaced: list[int] = field(default_factory=list)
    grants: list[tuple[int, int | None, str]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    unchanged: int = 0


def wanted_references(
    kind: Kind, table: Table, desired: dict[str, Values], stored: dict[str, tuple[Any, ...]]
) -> dict[str, set[str]]:
    """Provider ids of the rows that new or re-pointed records refer to, by ref."""
    wanted: dict[str, set[str]] = {ref: set() for ref in kind.refs}
    if not kind.refs:
        return wanted
    at = table.ref_ids_at
    for external_id, values in desired.items():
        row = stored.get(external_id)
        for index, ref in enumerate(kind.refs):
            target = values[ref]
            if target and (row is None or (row[at + index] or "") != target):
                wanted[ref].add(target)
    return wanted


def plan_batch(
    kind: Kind, table: Table, looked: Lookup, seen: PkSet, note_error: Callable[[str], None]
) -> Plan:
    """Compare a batch with its stored rows; adds the pks it found to `seen`."""
    plan = Plan()
    is_membership = kind.noun == "membership"

    def resolve(external_id: str, values: Values, needed: Iterable[str]) -> dict | None:
        resolved: dict[str, int | None] = {}
        for ref in needed:
            wanted = values[ref]
            if not wanted:
                resolved[ref] = None
                continue
            target = looked.references[ref].get(wanted)
            if target is None:
                note_error(f"{kind.noun} {external_id}: unknown {ref} {wanted}")
                return None
            resolved[ref] = target
        return resolved

    for external_id, values in looked.desired.items():
        row = looked.stored.get(external_id)
        if row is None:
            refs = resolve(external_id, values, kind.refs)
            if refs is not None:
                _plan_create(kind, plan, external_id, values, refs)
            continue
        seen.add(row[0])
        if row[2]:  # written by a service after this page was read
            plan.unchanged += 1
            continue
        current = table.current(row, looked.roles.get(row[0]) if is_membership else None)
        diff = [name for name, value in values.items() if current[name] != value]
        if not diff and row[3] is None:
            plan.unchanged += 1
            continue
        resolved = resolve(external_id, values, [ref for ref in kind.refs if ref in diff])
        if resolved is not None:
            refs = {**table.ref_pks(row), **resolved}
            _plan_change(kind, plan, external_id, values, row, diff, current, refs)
    return plan


def _plan_create(
    kind: Kind, plan: Plan, external_id: str, values: Values, refs: dict[str, int | None]
) -> None:
    plan.inserts.append((external_id, [*(values[name] for name in kind.fields), *refs.values()]))
    if values.get("roles"):
        plan.new_roles[external_id] = (refs["organization"], values["roles"])
    # Role tuples encode as JSON arrays.
    plan.events.append(
        (f"{kind.noun}.sync_created", kind.describe(external_id, values, refs), None, values)
    )


def _plan_change(
    kind: Kind,
    plan: Plan,
    external_id: str,
    values: Values,
    row: tuple[Any, ...],
    diff: list[str],
    current: Values,
    refs: dict[str, int | None],
) -> None:
    before = {name: _jsonable(current[name]) for name in diff}
    after = {name: _jsonable(values[name]) for name in diff}
    restored = row[3] is not None
    if restored:
        before["removed_at"] = read_time(row[3]).isoformat()
        after["removed_at"] = None
    changed = {
        name: refs[name] if name in kind.refs else values[name] for name in diff if name != "roles"
    }
    plan.updates.append((row[0], changed, restored))
    if kind.noun == "membership" and ("roles" in diff or "organization" in diff):
        plan.replaced.append(row[0])
        plan.grants.extend((row[0], refs["organization"], slug) for slug in values["roles"])
    event_type = f"{kind.noun}.sync_restored" if restored else f"{kind.noun}.sync_updated"
    plan.events.append((event_type, kind.describe(external_id, values, refs), before, after))


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, dict):
        return {name: _jsonable(item) for name, item in value.items()}
    return value

"""Verification of the audit log: its chain, its rebuilt tree, and the tree against checkpoints.

The chain catches an edited, removed or reordered event in the middle. The signed checkpoints
in the directory and at the witness catch what the chain cannot: a removed tail (the log is
smaller than a checkpoint says) and a consistently rewritten log (its root at a checkpoint's
size is not the signed one). Nothing here trusts the database's own copy of a checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from django.utils import timezone

from accounts import audit_tree
from accounts.audit import Verification, canonical, remember_verification, verify_chain
from accounts.checkpoints import (
    CheckpointError,
    StoredCheckpoint,
    configured_witness_key,
    public_key,
    read_directory,
    witness_checkpoint,
)
from accounts.merkle import leaf_hash
from accounts.models import AuditEvent, AuditTreeNode


@dataclass(frozen=True)
class Seen:
    """A checkpoint verification relies on, and where it was found."""

    where: str
    size: int
    root: bytes


def _failed(count: int, problem: str, broken_at: int | None = None) -> Verification:
    return Verification(False, count, broken_at, problem)


def verify_log() -> tuple[Verification, str]:
    """Verify everything; returns the result and what it was checked against."""
    try:
        key = public_key()
        if key is None:
            result = verify_chain()
            return _check_tree(result), "no checkpoint checked: KARMO_AUDIT_SIGNING_KEY is not set"
        seen = [
            Seen(f"checkpoint {s.name}", s.checkpoint.size, s.checkpoint.root)
            for s in read_directory(key)
        ]
        held = witness_checkpoint(key)
        cosigned = _witness_cosignature(held)
    except CheckpointError as exc:
        return _failed(0, str(exc)), ""
    directory_latest = seen[-1] if seen else None
    witnessed = held.checkpoint if held else None
    if held is not None:
        seen.append(Seen(held.name, held.checkpoint.size, held.checkpoint.root))
    result = verify_chain(roots_at={s.size for s in seen})
    if not result.ok:
        return result, ""
    if witnessed is not None and (
        directory_latest is None or witnessed.size > directory_latest.size
    ):
        held = directory_latest.size if directory_latest else 0
        return _failed(
            result.count,
            f"checkpoint directory is behind the witness: its newest checkpoint says {held} "
            f"events, the witness holds one for {witnessed.size}",
        ), ""
    latest = max(seen, key=lambda s: s.size, default=None)
    if latest is not None and latest.size > result.count:
        return _failed(
            result.count,
            f"audit log truncated: {latest.where} says {latest.size} events, "
            f"database has {result.count}",
            result.count + 1,
        ), ""
    for checkpoint in sorted(seen, key=lambda s: s.size):
        if result.roots[checkpoint.size] != checkpoint.root:
            return _rewritten(result, checkpoint, seen), ""
    checked = _check_tree(result)
    if latest is None:
        return checked, "no checkpoint yet: run manage.py audit_checkpoint"
    against = f"checked against {latest.where}: {latest.size} events, root {latest.root.hex()}"
    if witnessed is not None:
        against += f"; the witness holds {witnessed.size}, {cosigned}"
    return checked, against


def _witness_cosignature(held: StoredCheckpoint | None) -> str:
    """How the witness's copy is co-signed; raises when it fails KARMO_AUDIT_WITNESS_KEY, as
    that copy may then come from anyone able to answer at the witness's URL."""
    key = configured_witness_key()
    if held is None:
        return ""
    if key is None:
        return "its co-signature not checked (no KARMO_AUDIT_WITNESS_KEY)"
    if key.cosigned_at(held.text) is None:
        raise CheckpointError(
            f"the witness's checkpoint for {held.checkpoint.size} events carries no valid "
            f"co-signature by {key.name} (KARMO_AUDIT_WITNESS_KEY)"
        )
    return f"its co-signature by {key.name} verified"


def _check_tree(result: Verification) -> Verification:
    """The stored tree (which proofs are served from) must give the events' root."""
    if not result.ok or result.count == 0:
        return result
    try:
        stored = audit_tree.root(result.count)
    except audit_tree.TreeIncompleteError as exc:
        return replace(result, ok=False, problem=f"Merkle tree: {exc}")
    if stored == result.roots[result.count]:
        return result
    first = first_leaf_mismatch()
    return _failed(
        result.count,
        f"the stored Merkle tree disagrees with the events, first at event #{first}",
        first,
    )


def _rewritten(result: Verification, checkpoint: Seen, seen: list[Seen]) -> Verification:
    """A root mismatch at a checkpoint's size: name the first differing event if we can."""
    problem = (
        f"audit log rewritten: {checkpoint.where} signed root {checkpoint.root.hex()} for "
        f"{checkpoint.size} events, the events give {result.roots[checkpoint.size].hex()}"
    )
    try:
        stored_matches = audit_tree.root(checkpoint.size) == checkpoint.root
    except audit_tree.TreeIncompleteError:
        stored_matches = False
    if stored_matches:  # the events changed behind the tree: compare leaf by leaf
        first = first_leaf_mismatch()
        return _failed(first - 1, f"{problem}; first differing event: #{first}", first)
    matched = [s.size for s in seen if s.size < checkpoint.size and result.roots[s.size] == s.root]
    after = max(matched, default=0)
    return _failed(
        after,
        f"{problem}; tree and events were both rewritten somewhere in events "
        f"#{after + 1}-#{checkpoint.size}",
        after + 1,
    )


def first_leaf_mismatch(chunk_size: int = 2000) -> int:
    """The first event whose leaf hash differs from (or is missing in) the stored tree."""
    events = AuditEvent.objects.order_by("sequence").iterator(chunk_size=chunk_size)
    leaves = (
        AuditTreeNode.objects.filter(level=0)
        .order_by("position")
        .values_list("position", "hash")
        .iterator(chunk_size=chunk_size)
    )
    for event, stored in zip(events, leaves, strict=False):
        position, digest = stored
        if position != event.sequence - 1 or bytes(digest) != leaf_hash(canonical(event).encode()):
            return event.sequence
    return audit_tree.tree_size() + 1


def verify_and_remember() -> tuple[Verification, str]:
    """verify_log(), keeping the result for the console."""
    started = timezone.now()
    result, against = verify_log()
    remember_verification(started, result, against)
    return result, against

"""The audit events' Merkle tree as stored nodes: roots and proofs read O(log n) rows.

Every perfect subtree is stored once complete (about two rows per event), so the hash of any
range a proof needs is a fold of at most log2(n) stored nodes, all fetched in one query.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

from accounts.insert_rows import insert_rows
from accounts.merkle import (
    Node,
    extend,
    fold,
    inclusion_ranges,
    perfect_nodes,
)
from accounts.merkle import (
    consistency_ranges as _consistency_ranges,
)
from accounts.models import AuditEvent, AuditTreeNode

Frontier = list[tuple[int, int, bytes]]


class TreeIncompleteError(Exception):
    """A node the tree should hold is missing: the tree and the events disagree."""


def fetch_sql(wanted: list[Node]) -> tuple[str, list]:
    """The query (and its parameters) that reads the given nodes' hashes."""
    # Raw SQL: composing the condition through the ORM cost more CPU than the query itself.
    quote = connection.ops.quote_name
    table = quote(AuditTreeNode._meta.db_table)
    level, position = quote("level"), quote("position")
    if connection.vendor == "postgresql":
        # Wanted keys as arrays joined to the key: planning stays flat as a proof grows.
        sql = (
            f"SELECT n.{level}, n.{position}, n.{quote('hash')} "  # noqa: S608
            f"FROM unnest(%s::smallint[], %s::bigint[]) AS w(l, p) "
            f"JOIN {table} n ON n.{level} = w.l AND n.{position} = w.p"
        )
        return sql, [[node[0] for node in wanted], [node[1] for node in wanted]]
    # An OR of (level, position) pairs, not a row-value IN: SQLite only uses the key so.
    match = " OR ".join([f"({level} = %s AND {position} = %s)"] * len(wanted))
    sql = f"SELECT {level}, {position}, {quote('hash')} FROM {table} WHERE {match}"  # noqa: S608
    return sql, [value for node in wanted for value in node]


def _fetch(nodes: Iterable[Node]) -> dict[Node, bytes]:
    wanted = sorted(set(nodes))
    if not wanted:
        return {}
    sql, params = fetch_sql(wanted)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = {(lvl, index): bytes(digest) for lvl, index, digest in cursor.fetchall()}
    missing = [node for node in wanted if node not in found]
    if missing:
        raise TreeIncompleteError(f"tree node {missing[0][0]}/{missing[0][1]} is missing")
    return found


def _ranges_hashes(ranges: list[tuple[int, int]]) -> list[bytes]:
    split = [perfect_nodes(start, end) for start, end in ranges]
    found = _fetch(node for nodes in split for node in nodes)
    return [fold([found[node] for node in nodes]) for nodes in split]


def frontier(size: int) -> Frontier:
    """The compact range of the first `size` leaves: (level, index, hash), left to right."""
    nodes = perfect_nodes(0, size)
    found = _fetch(nodes)
    return [(level, index, found[(level, index)]) for level, index in nodes]


def root(size: int) -> bytes:
    """The Merkle Tree Hash of the first `size` events."""
    return _ranges_hashes([(0, size)])[0]


def inclusion_proof(index: int, size: int) -> list[bytes]:
    """The audit path of leaf `index` (0-based) in the tree of `size` leaves."""
    return _ranges_hashes(inclusion_ranges(index, size))


def inclusion_proof_and_root(index: int, size: int) -> tuple[list[bytes], bytes]:
    """inclusion_proof() and root(size), read in one query."""
    *path, top = _ranges_hashes([*inclusion_ranges(index, size), (0, size)])
    return path, top


def consistency_proof_and_roots(old: int, new: int) -> tuple[list[bytes], bytes, bytes]:
    """consistency_proof() and the roots of both sizes, read in one query."""
    ranges = [] if old in (0, new) else _consistency_ranges(old, new)
    *proof, old_root, new_root = _ranges_hashes([*ranges, (0, old), (0, new)])
    return proof, old_root, new_root


def consistency_proof(old: int, new: int) -> list[bytes]:
    """The proof that the tree of `old` leaves is a prefix of the tree of `new` leaves."""
    if old == 0 or old == new:
        return []
    return _ranges_hashes(_consistency_ranges(old, new))


def tree_size() -> int:
    """How many events the log holds (the last sequence number)."""
    last = AuditEvent.objects.order_by("-sequence").values_list("sequence", flat=True).first()
    return last or 0


def new_nodes(first: int, leaves: list[bytes]) -> list[tuple[int, int, bytes]]:
    """The nodes that appending `leaves` after the first `first` leaves completes."""
    return list(extend(frontier(first), leaves, first))


def write_nodes(nodes: list[tuple[int, int, bytes]]) -> None:
    """Insert the nodes (inside the transaction that inserts their events)."""
    insert_rows(AuditTreeNode._meta.db_table, ("level", "position", "hash"), nodes)


def inclusion_proofs(indexes: list[int], size: int) -> list[list[bytes]]:
    """The audit paths of several leaves in the tree of `size` leaves, read in one query."""
    paths = [inclusion_ranges(index, size) for index in indexes]
    split = {r: perfect_nodes(*r) for ranges in paths for r in ranges}
    found = _fetch(node for nodes in split.values() for node in nodes)
    hashes = {r: fold([found[node] for node in nodes]) for r, nodes in split.items()}
    return [[hashes[r] for r in ranges] for ranges in paths]

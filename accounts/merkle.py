"""RFC 6962 / RFC 9162 Merkle tree hashing and proof shapes, without storage.

Leaves are indexed from 0 (the event with sequence 1 is leaf 0). A range [start, end) of
leaves is "aligned" when it is a tree node or a right edge of one, which is true of every
range the RFC's recursions name: such a range splits into perfect subtrees whose hashes,
folded from the right, give its Merkle Tree Hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

# A perfect subtree: (level, index) covers leaves [index << level, (index + 1) << level).
Node = tuple[int, int]


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data)."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two smaller than size (size > 1)."""
    return 1 << ((size - 1).bit_length() - 1)


def perfect_nodes(start: int, end: int) -> list[Node]:
    """The perfect subtrees that make up the aligned range [start, end), left to right."""
    nodes = []
    while start < end:
        level = (end - start).bit_length() - 1
        if start:
            level = min(level, (start & -start).bit_length() - 1)
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def fold(hashes: list[bytes]) -> bytes:
    """The Merkle Tree Hash of an aligned range from its perfect subtrees' hashes."""
    if not hashes:
        return EMPTY_ROOT
    root = hashes[-1]
    for left in reversed(hashes[:-1]):
        root = node_hash(left, root)
    return root


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The ranges whose hashes form PATH(index, D[0:size]), leaf to root (RFC 9162 2.1.3.1)."""
    ranges: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    return ranges[::-1]


def consistency_ranges(old: int, new: int) -> list[tuple[int, int]]:
    """The ranges whose hashes form PROOF(old, D[0:new]) (RFC 9162 2.1.4.1); 0 < old <= new."""
    ranges: list[tuple[int, int]] = []
    start, end, whole = 0, new, True
    m = old
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start, m, whole = start + k, m - k, False
    if not whole:
        ranges.append((start, end))
    return ranges[::-1]


def extend(
    frontier: list[tuple[int, int, bytes]], leaves: Iterable[bytes], first: int
) -> Iterator[tuple[int, int, bytes]]:
    """Append leaves (the first at index `first`) to a compact range, yielding each new node.

    `frontier` holds (level, index, hash) of perfect_nodes(0, first) and is updated in place,
    so it is the compact range of the grown tree afterwards.
    """
    for offset, digest in enumerate(leaves):
        node = (0, first + offset, digest)
        yield node
        while frontier and frontier[-1][0] == node[0]:
            level, index, left = frontier.pop()
            node = (level + 1, index >> 1, node_hash(left, node[2]))
            yield node
        frontier.append(node)


def frontier_root(frontier: list[tuple[int, int, bytes]]) -> bytes:
    """The root of the tree whose compact range this is."""
    return fold([digest for _, _, digest in frontier])

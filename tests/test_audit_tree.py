"""The audit events' Merkle tree: RFC 6962 vectors, and stored nodes against a naïve tree."""

from __future__ import annotations

import hashlib

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import audit_tree
from accounts.audit import EventSpec, canonical, record_described, record_event, record_events
from accounts.merkle import consistency_ranges, extend, frontier_root, inclusion_ranges, leaf_hash
from accounts.models import AuditEvent, AuditTreeNode, Outcome

# RFC 6962's reference inputs and tree heads (certificate-transparency's test data).
CT_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = {
    (0, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (5, 8): [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 3): ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    (1, 2): ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"],
}
CT_CONSISTENCY = {
    (1, 1): [],
    (1, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (6, 8): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 5): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
}


# The naïve tree, straight from RFC 6962's definitions: recursion over the full leaf list.
def naive_root(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + naive_root(leaves[:k]) + naive_root(leaves[k:])).digest()


def naive_path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) <= 1:
        return []
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    if m < k:
        return [*naive_path(m, leaves[:k]), naive_root(leaves[k:])]
    return [*naive_path(m - k, leaves[k:]), naive_root(leaves[:k])]


def naive_subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if whole else [naive_root(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*naive_subproof(m, leaves[:k], whole), naive_root(leaves[k:])]
    return [*naive_subproof(m - k, leaves[k:], False), naive_root(leaves[:k])]


def range_hash(leaves: list[bytes], ranges: list[tuple[int, int]]) -> list[str]:
    return [naive_root(leaves[a:b]).hex() for a, b in ranges]


CT_HASHED = [leaf_hash(data) for data in CT_LEAVES]


@pytest.mark.parametrize("size", range(1, 9))
def test_compact_range_gives_the_rfc_6962_roots(size):
    frontier: list = []
    list(extend(frontier, CT_HASHED[:size], 0))
    assert frontier_root(frontier).hex() == CT_ROOTS[size - 1]
    assert naive_root(CT_HASHED[:size]).hex() == CT_ROOTS[size - 1]


@pytest.mark.parametrize(("index", "size"), list(CT_INCLUSION))
def test_inclusion_proofs_match_the_reference_vectors(index, size):
    assert range_hash(CT_HASHED, inclusion_ranges(index, size)) == CT_INCLUSION[(index, size)]


@pytest.mark.parametrize(("old", "new"), list(CT_CONSISTENCY))
def test_consistency_proofs_match_the_reference_vectors(old, new):
    assert range_hash(CT_HASHED, consistency_ranges(old, new)) == CT_CONSISTENCY[(old, new)]


def test_extend_yields_each_node_once_and_keeps_a_logarithmic_frontier():
    frontier: list = []
    nodes = list(extend(frontier, [leaf_hash(i.to_bytes(2)) for i in range(1000)], 0))
    assert len(nodes) == len({(level, position) for level, position, _ in nodes}) == 1994
    assert [level for level, _, _ in frontier] == [9, 8, 7, 6, 5, 3]  # 1000 = 0b1111101000


def record(n: int) -> list[AuditEvent]:
    return record_events(
        EventSpec(event_type="test.recorded", outcome=Outcome.RECORDED, reason=f"event {i}")
        for i in range(n)
    )


def leaves_in_db() -> list[bytes]:
    return [leaf_hash(canonical(e).encode()) for e in AuditEvent.objects.order_by("sequence")]


@pytest.mark.django_db
def test_stored_tree_answers_like_the_naive_tree_for_every_size_and_leaf():
    for i in range(7):  # appended in uneven batches, through all three writers
        record(i + 1)
        record_event(event_type="test.single", outcome=Outcome.RECORDED)
    template = EventSpec(event_type="", outcome=Outcome.RECORDED)
    record_described(
        template, [("test.bulk", {"target_id": str(i)}, None, {"i": i}) for i in range(9)]
    )
    leaves = leaves_in_db()
    assert len(leaves) == 44
    for size in range(1, 45):
        assert audit_tree.root(size) == naive_root(leaves[:size])
    for size in (1, 2, 3, 5, 8, 9, 16, 27, 44):
        for index in range(size):
            assert audit_tree.inclusion_proof(index, size) == naive_path(index, leaves[:size])
        for old in range(1, size + 1):
            expected = naive_subproof(old, leaves[:size], True)
            assert audit_tree.consistency_proof(old, size) == expected


@pytest.mark.django_db
def test_a_proof_reads_one_query_and_each_event_writes_about_two_nodes():
    record(300)
    assert AuditTreeNode.objects.count() == 300 + 150 + 75 + 37 + 18 + 9 + 4 + 2 + 1
    with CaptureQueriesContext(connection) as queries:
        audit_tree.inclusion_proof(137, 300)
    assert len(queries) == 1
    with CaptureQueriesContext(connection) as queries:
        audit_tree.consistency_proof(137, 300)
    assert len(queries) == 1


@pytest.mark.django_db
def test_appending_reads_the_frontier_in_one_query():
    record(5)
    with CaptureQueriesContext(connection) as queries:
        record_event(event_type="test.recorded", outcome=Outcome.RECORDED)
    sql = [q["sql"].lower() for q in queries]
    assert len([q for q in sql if q.startswith("select") and "accounts_audittreenode" in q]) == 1

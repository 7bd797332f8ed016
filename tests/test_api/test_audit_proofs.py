"""Audit proofs in the API, checked by the offline verifier and against a naïve tree."""

from __future__ import annotations

import pytest
from django.test import Client
from karmo_verify import open_checkpoint, verify_consistency, verify_inclusion

from accounts.audit import EventSpec, canonical, record_events
from accounts.checkpoints import write_checkpoint
from accounts.merkle import leaf_hash
from accounts.models import AuditEvent, Outcome
from tests.test_api.conftest import assert_envelope
from tests.test_audit_tree import naive_path, naive_root, naive_subproof

pytestmark = pytest.mark.django_db


def record(n: int) -> None:
    record_events(
        EventSpec(event_type="test.recorded", outcome=Outcome.RECORDED, reason=f"e{i}")
        for i in range(n)
    )


def leaves() -> list[bytes]:
    return [leaf_hash(canonical(e).encode()) for e in AuditEvent.objects.order_by("sequence")]


def test_inclusion_proofs_verify_and_match_the_naive_tree(auditor_api):
    record(13)
    all_leaves = leaves()
    for size in (1, 6, 8, 13):
        for sequence in range(1, size + 1):
            body = auditor_api.get(f"/audit-events/{sequence}/proof?treeSize={size}").json()
            proof = [bytes.fromhex(p) for p in body["proof"]]
            root = bytes.fromhex(body["rootHash"])
            assert root == naive_root(all_leaves[:size])
            assert proof == naive_path(sequence - 1, all_leaves[:size])
            assert bytes.fromhex(body["leafHash"]) == all_leaves[sequence - 1]
            assert verify_inclusion(sequence - 1, size, all_leaves[sequence - 1], proof, root)
            assert body["checkpoint"] is None


def test_proof_defaults_to_the_latest_checkpoint_and_carries_it(auditor_api, audit_signing):
    record(5)
    signed = write_checkpoint().tree_size  # the token's issue is an event too
    record(2)
    body = auditor_api.get("/audit-events/3/proof").json()
    assert body["treeSize"] == signed
    checkpoint = open_checkpoint(body["checkpoint"]["note"], audit_signing.verifier)
    assert checkpoint.root.hex() == body["rootHash"]
    assert body["checkpoint"]["publicKey"] == str(audit_signing.verifier)
    newer = auditor_api.get(f"/audit-events/{signed + 1}/proof").json()
    assert newer["treeSize"] == signed + 2  # not covered by the checkpoint: the log's size


def test_consistency_proofs_verify_and_match_the_naive_tree(auditor_api):
    record(11)
    all_leaves = leaves()
    for old, new in ((1, 11), (3, 7), (4, 8), (6, 11), (11, 11)):
        body = auditor_api.get(f"/audit/consistency?from={old}&to={new}").json()
        proof = [bytes.fromhex(p) for p in body["proof"]]
        assert proof == naive_subproof(old, all_leaves[:new], True)
        assert verify_consistency(
            old, new, bytes.fromhex(body["fromRoot"]), bytes.fromhex(body["toRoot"]), proof
        )


def test_latest_checkpoint_is_served_and_absent_is_a_404(auditor_api, audit_signing):
    assert_envelope(auditor_api.get("/audit/checkpoints/latest"), 404, "40409002")
    record(4)
    signed = write_checkpoint().tree_size
    body = auditor_api.get("/audit/checkpoints/latest").json()
    assert (body["treeSize"], body["witnessed"]) == (signed, False)
    assert open_checkpoint(body["note"], audit_signing.verifier).size == signed


@pytest.mark.parametrize(
    ("path", "status", "code", "pointer"),
    [
        ("/audit-events/99/proof", 404, "40409001", None),
        ("/audit-events/4/proof?treeSize=3", 400, "40009001", "/treeSize"),
        ("/audit-events/2/proof?treeSize=99", 404, "40409003", "/treeSize"),
        ("/audit-events/2/proof?treeSize=x", 422, "42200001", "/treeSize"),
        ("/audit-events/0/proof", 422, "42200001", "/sequence"),
        ("/audit/consistency?from=4&to=3", 400, "40009001", "/from"),
        ("/audit/consistency?from=1&to=99", 404, "40409003", "/to"),
        ("/audit/consistency?from=0&to=3", 422, "42200001", "/from"),
        ("/audit/consistency?to=3", 422, "42200001", "/from"),
    ],
)
def test_bad_sizes_are_clear_4xx(auditor_api, path, status, code, pointer):
    record(5)
    body = assert_envelope(auditor_api.get(path), status, code)
    if pointer:
        assert body["errors"][0]["pointer"] == pointer


@pytest.mark.parametrize(
    "path", ["/audit-events/1/proof", "/audit/consistency?from=1&to=1", "/audit/checkpoints/latest"]
)
def test_help_desk_may_not_read_proofs(help_desk_api, path):
    record(1)
    assert_envelope(help_desk_api.get(path), 403, "40302001")


def test_public_key_is_served_as_text_at_a_stable_url(audit_signing, settings):
    answer = Client().get("/audit/public-key")
    assert answer.status_code == 200
    assert answer.content.decode() == f"{audit_signing.verifier}\n"
    settings.KARMO_AUDIT_SIGNING_KEY = ""
    assert Client().get("/audit/public-key").status_code == 404

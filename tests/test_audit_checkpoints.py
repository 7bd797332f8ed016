"""Signed checkpoints, the witness, and each way of tampering with the log being caught."""

from __future__ import annotations

import io
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from karmo_verify import VerifierKey, open_checkpoint, split_note, verify_cosignature

from accounts import audit_tree
from accounts.audit import EventSpec, canonical, compute_hash, record_events
from accounts.audit_tree import write_nodes
from accounts.checkpoints import (
    CheckpointError,
    WitnessKey,
    new_signer,
    parse_signer,
    write_checkpoint,
)
from accounts.merkle import extend, leaf_hash
from accounts.models import AuditCheckpoint, AuditEvent, Outcome
from tests.fixtures.audit import set_audit_triggers

pytestmark = pytest.mark.django_db


def record(n: int, label: str = "event") -> None:
    record_events(
        EventSpec(event_type="test.recorded", outcome=Outcome.RECORDED, reason=f"{label} {i}")
        for i in range(n)
    )


def verify() -> list[str]:
    out = io.StringIO()
    call_command("verify_audit_log", stdout=out)
    return out.getvalue().splitlines()


def verify_fails() -> str:
    with pytest.raises(CommandError) as caught:
        verify()
    assert caught.value.returncode == 1
    return str(caught.value)


def checkpoint() -> AuditCheckpoint:
    out = io.StringIO()
    call_command("audit_checkpoint", stdout=out)
    return AuditCheckpoint.objects.first()


def sql(statement: str, params: list | None = None) -> None:
    """Change the log behind the application's back, as someone with database access could."""
    set_audit_triggers(installed=False)
    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])


def truncate(keep: int) -> None:
    """Remove every event after `keep`, and the tree nodes that covered them."""
    sql("DELETE FROM accounts_auditevent WHERE sequence > %s", [keep])
    sql("DELETE FROM accounts_audittreenode")
    rebuild_tree()


def rebuild_tree() -> None:
    leaves = [leaf_hash(canonical(e).encode()) for e in AuditEvent.objects.order_by("sequence")]
    sql("DELETE FROM accounts_audittreenode")
    write_nodes(list(extend([], leaves, 0)))


def rewrite_consistently(sequence: int, reason: str, *, tree: bool = True) -> None:
    """Edit one event and recompute every later hash (and, by default, the whole tree)."""
    prev = None
    for event in AuditEvent.objects.order_by("sequence"):
        if prev is not None:
            event.prev_hash = prev
        if event.sequence == sequence:
            event.reason = reason
        event.hash = compute_hash(event)
        sql(
            "UPDATE accounts_auditevent SET reason = %s, prev_hash = %s, hash = %s "
            "WHERE sequence = %s",
            [event.reason, event.prev_hash, event.hash, event.sequence],
        )
        prev = event.hash
    if tree:
        rebuild_tree()


def test_keys_round_trip_in_the_signed_note_formats():
    signer = new_signer("karmo.example/audit")
    text = str(signer)
    assert text.startswith("PRIVATE+KEY+karmo.example/audit+")
    again = parse_signer(text)
    assert str(again.verifier) == str(signer.verifier)
    assert VerifierKey.parse(str(signer.verifier)) == signer.verifier


def test_keygen_prints_a_usable_key_pair(settings, tmp_path):
    out = io.StringIO()
    call_command("audit_keygen", "--name", "karmo.example/audit", stdout=out)
    secret, public = out.getvalue().splitlines()
    signer = parse_signer(secret.removeprefix("KARMO_AUDIT_SIGNING_KEY="))
    assert public == f"public key: {signer.verifier}"


def test_checkpoint_is_a_signed_tlog_checkpoint_written_once_per_size(audit_signing, settings):
    record(5)
    made = checkpoint()
    path = settings.KARMO_AUDIT_CHECKPOINT_DIR / "000000000005.checkpoint"
    text = path.read_text()
    assert text == made.note
    origin, size, root, blank, signature = text.splitlines()
    assert (origin, size, blank) == ("karmo.test/audit", "5", "")
    assert signature.startswith("\u2014 karmo.test/audit ")
    parsed = open_checkpoint(text, audit_signing.verifier)
    assert parsed.root == audit_tree.root(5)
    assert write_checkpoint() == made  # nothing new: no second file
    assert sorted(p.name for p in path.parent.glob("*.checkpoint")) == [path.name]
    assert made.witness_status == "no witness configured"


def test_checkpoint_without_a_key_is_refused(settings):
    settings.KARMO_AUDIT_SIGNING_KEY = ""
    record(1)
    with pytest.raises(CommandError, match="no KARMO_AUDIT_SIGNING_KEY"):
        checkpoint()


def test_witness_cosigns_each_checkpoint_after_checking_consistency(witness):
    record(3)
    first = checkpoint()
    record(4)
    second = checkpoint()
    assert (first.witnessed, second.witnessed) == (True, True)
    assert second.witness_status == "co-signed by witness.test"
    assert witness.held.size == 7
    assert second.note.count("\u2014 ") == 2  # the log's signature and the witness's
    assert witness.refused == []
    body, signatures = split_note(second.note)
    [(name, cosignature)] = [(n, sig) for n, sig in signatures if n == "witness.test"]
    public = witness.signer.private.public_key().public_bytes_raw()
    signed_at = verify_cosignature(body, cosignature, name, public)
    assert signed_at is not None
    assert abs(signed_at - time.time()) < 300
    assert verify_cosignature(body.replace("\n7\n", "\n8\n"), cosignature, name, public) is None


@pytest.mark.parametrize("form", ["cosignature/v1 key", "audit_keygen's public key"])
def test_cosignature_verifying_against_the_witness_key_is_kept(witness, settings, form):
    if form == "audit_keygen's public key":  # the same key pair, as a note verifier key
        settings.KARMO_AUDIT_WITNESS_KEY = str(witness.signer.verifier)
    record(2)
    made = checkpoint()
    assert (made.witnessed, made.witness_status) == (True, "co-signed by witness.test")
    [cosignature] = made.note.splitlines()[-1:]
    assert cosignature.startswith("\u2014 witness.test ")
    assert WitnessKey.parse(settings.KARMO_AUDIT_WITNESS_KEY).cosigned_at(made.note) is not None


def test_witness_key_reads_both_forms_and_refuses_a_wrong_id():
    signer = new_signer("witness.example")
    key = WitnessKey(signer.name, signer.private.public_key().public_bytes_raw())
    assert WitnessKey.parse(str(key)) == key == WitnessKey.parse(str(signer.verifier))
    name, _, encoded = str(key).split("+", 2)
    note_key_id = signer.verifier.key_id.hex()  # the id of the other form
    with pytest.raises(CheckpointError, match="id does not match"):
        WitnessKey.parse(f"{name}+{note_key_id}+{encoded}")
    with pytest.raises(CheckpointError, match="reads <name>"):
        WitnessKey.parse("witness.example")


def test_cosignature_by_another_key_is_recorded_as_not_witnessed_and_not_kept(witness, settings):
    witness.signer = new_signer("witness.test")  # same name, not the configured key
    record(2)
    made = checkpoint()
    assert not made.witnessed
    assert made.witness_status == (
        "co-signature did not verify against KARMO_AUDIT_WITNESS_KEY (witness.test)"
    )
    file = settings.KARMO_AUDIT_CHECKPOINT_DIR / "000000000002.checkpoint"
    assert made.note == file.read_text()
    assert made.note.count("\u2014 ") == 1  # the log's own signature only
    assert (
        "the witness's checkpoint for 2 events carries no valid co-signature by witness.test"
        in verify_fails()
    )


def test_witness_without_a_configured_key_is_not_trusted(witness, settings):
    settings.KARMO_AUDIT_WITNESS_KEY = ""
    record(2)
    made = checkpoint()
    assert not made.witnessed
    assert made.witness_status == "co-signature not checked: KARMO_AUDIT_WITNESS_KEY is not set"
    assert made.note.count("\u2014 ") == 1
    assert verify()[-2].endswith(
        "; the witness holds 2, its co-signature not checked (no KARMO_AUDIT_WITNESS_KEY)"
    )


def test_witness_that_holds_a_newer_size_is_caught_up_from_it(witness):
    record(3)
    checkpoint()
    AuditCheckpoint.objects.update(witnessed=False)  # we forgot the witness has size 3
    record(2)
    made = checkpoint()
    assert made.witnessed
    assert witness.refused == [409]  # first try from size 0, then from the size it reported


def test_intact_log_verifies_against_the_latest_checkpoint(witness):
    record(5)
    checkpoint()
    record(2)  # events after the latest checkpoint are fine
    lines = verify()
    assert lines[-1] == "audit log verified: 7 events"
    assert lines[-2].startswith(
        "checked against checkpoint 000000000005.checkpoint: 5 events, root "
    )
    assert lines[-2].endswith("; the witness holds 5, its co-signature by witness.test verified")


def test_edited_event_is_caught_by_the_chain(audit_signing):
    record(5)
    checkpoint()
    sql("UPDATE accounts_auditevent SET reason = 'forged' WHERE sequence = 3")
    assert "event #3: content does not match its hash" in verify_fails()


def test_deleted_event_in_the_middle_is_caught_by_the_chain(audit_signing):
    record(5)
    checkpoint()
    sql("DELETE FROM accounts_auditevent WHERE sequence = 2")
    assert "event #2 is missing" in verify_fails()


def test_reordered_events_are_caught_by_the_chain(audit_signing):
    record(5)
    checkpoint()
    sql("UPDATE accounts_auditevent SET sequence = -2 WHERE sequence = 2")
    sql("UPDATE accounts_auditevent SET sequence = 2 WHERE sequence = 3")
    sql("UPDATE accounts_auditevent SET sequence = 3 WHERE sequence = -2")
    assert "event #2: previous-hash link does not match" in verify_fails()


def test_deleting_the_newest_events_is_caught_only_through_the_checkpoint(audit_signing):
    record(8)
    checkpoint()
    truncate(keep=5)
    record(1)  # and the log goes on, hiding the gap from the chain
    assert (
        "audit log truncated: checkpoint 000000000008.checkpoint says 8 events, database has 6"
        in verify_fails()
    )


def test_rewriting_chain_and_tree_consistently_is_caught_by_the_signature(audit_signing):
    record(4)
    checkpoint()
    record(4)
    checkpoint()
    rewrite_consistently(6, "rewritten")
    problem = verify_fails()
    assert "audit log rewritten: checkpoint 000000000008.checkpoint signed root " in problem
    assert "tree and events were both rewritten somewhere in events #5-#8" in problem


def test_rewriting_events_behind_the_tree_names_the_first_changed_event(audit_signing):
    record(9)
    checkpoint()
    rewrite_consistently(4, "rewritten", tree=False)
    problem = verify_fails()
    assert "audit log rewritten: checkpoint 000000000009.checkpoint" in problem
    assert problem.endswith("first differing event: #4")


def test_rewrite_re_signed_with_a_stolen_key_is_caught_by_the_witness(witness, settings):
    record(6)
    checkpoint()
    rewrite_consistently(2, "rewritten")
    for path in settings.KARMO_AUDIT_CHECKPOINT_DIR.glob("*.checkpoint"):
        path.unlink()  # the attacker also controls the directory
    AuditCheckpoint.objects.all().delete()
    settings.KARMO_AUDIT_WITNESS_URL = ""  # ...and re-signs without the witness
    checkpoint()
    settings.KARMO_AUDIT_WITNESS_URL = witness.url
    problem = verify_fails()
    assert "audit log rewritten: the witness's checkpoint signed root" in problem


def test_older_file_in_place_of_the_latest_is_caught_by_the_witness(witness, settings):
    record(3)
    checkpoint()
    record(3)
    checkpoint()
    folder = settings.KARMO_AUDIT_CHECKPOINT_DIR
    (folder / "000000000006.checkpoint").unlink()
    truncate(keep=3)
    problem = verify_fails()
    assert (
        "checkpoint directory is behind the witness: its newest checkpoint says 3 events, "
        "the witness holds one for 6" in problem
    )


def test_older_checkpoint_copied_over_the_latest_is_caught_by_its_name(audit_signing, settings):
    record(3)
    checkpoint()
    record(3)
    checkpoint()
    folder = settings.KARMO_AUDIT_CHECKPOINT_DIR
    (folder / "000000000006.checkpoint").unlink()
    (folder / "000000000006.checkpoint").write_text(
        (folder / "000000000003.checkpoint").read_text()
    )
    assert "checkpoint 000000000006.checkpoint says 3 events" in verify_fails()


def test_checkpoint_signed_by_another_key_is_rejected(audit_signing, settings):
    record(2)
    checkpoint()
    settings.KARMO_AUDIT_SIGNING_KEY = str(new_signer("karmo.test/audit"))
    assert "no valid signature by karmo.test/audit" in verify_fails()

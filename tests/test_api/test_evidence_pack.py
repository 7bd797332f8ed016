"""Evidence packs: a genuine pack verifies offline; each kind of forgery is refused with why."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import zipfile

import pytest
from karmo_verify import VerifierKey, verify_pack

from accounts.audit import EventSpec, record_events
from accounts.checkpoints import Signer, new_signer
from accounts.models import AuditCheckpoint, Outcome
from tests.test_api.conftest import assert_envelope

pytestmark = pytest.mark.django_db


def record(n: int) -> None:
    record_events(
        EventSpec(event_type="test.recorded", outcome=Outcome.RECORDED, reason=f"event {i}")
        for i in range(n)
    )


@pytest.fixture
def pack(auditor_api, audit_signing) -> bytes:
    record(9)
    answer = auditor_api.get("/audit-events/evidence-pack?action=test.*")
    assert answer.status_code == 200
    assert answer["Content-Type"] == "application/zip"
    return b"".join(answer.streaming_content)


def files_of(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def zipped(files: dict[str, bytes]) -> io.BytesIO:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    out.seek(0)
    return out


def resign_manifest(files: dict[str, bytes], signer: Signer) -> None:
    """What an attacker holding the signing key would do after changing files."""
    body = files["manifest.txt"].decode().split("\n\n")[0] + "\n"
    head = body.split("\n")[:3]
    lines = [f"{hashlib.sha256(files[n]).hexdigest()}  {n}" for n in files if n != "manifest.txt"]
    head[2] = f"events {len(files['events.jsonl'].splitlines())}"
    files["manifest.txt"] = signer.sign("\n".join(head + lines) + "\n").encode()


def problems(data: io.BytesIO, key: VerifierKey) -> list[str]:
    verdict = verify_pack(data, key)
    assert not verdict.ok
    return verdict.problems


def test_genuine_pack_verifies_and_holds_what_it_says(pack, audit_signing):
    files = files_of(pack)
    assert set(files) == {
        "events.jsonl",
        "events.csv",
        "proofs.jsonl",
        "checkpoint.txt",
        "README.txt",
        "manifest.txt",
    }
    assert len(files["events.jsonl"].splitlines()) == 9
    assert len(files["events.csv"].decode().splitlines()) == 10
    verdict = verify_pack(io.BytesIO(pack), audit_signing.verifier)
    assert verdict.ok, verdict.problems
    assert verdict.events == 9
    assert AuditCheckpoint.objects.get().tree_size == verdict.checkpoint.size


def test_verifier_runs_standalone_as_a_module(pack, audit_signing, tmp_path):
    path = tmp_path / "pack.zip"
    path.write_bytes(pack)
    key_file = tmp_path / "key.pub"
    key_file.write_text(str(audit_signing.verifier))
    run = subprocess.run(
        [sys.executable, "-m", "karmo_verify", str(path), "--key", str(key_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith("VERIFIED: 9 events, each proven in the tree of ")
    path.write_bytes(pack[: len(pack) // 2])
    run = subprocess.run(
        [sys.executable, "-m", "karmo_verify", str(path), "--key", str(audit_signing.verifier)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 1
    assert "NOT VERIFIED:\n- not a readable zip file" in run.stdout


def test_edited_event_is_refused(pack, audit_signing):
    files = files_of(pack)
    files["events.jsonl"] = files["events.jsonl"].replace(b'"event 3"', b'"event X"')
    assert "events.jsonl: SHA-256 does not match the manifest" in problems(
        zipped(files), audit_signing.verifier
    )
    resign_manifest(files, audit_signing)  # even with the stolen key, the proof fails
    found = problems(zipped(files), audit_signing.verifier)
    assert any(p.endswith("inclusion proof does not lead to the checkpoint's root") for p in found)


def test_dropped_event_is_refused(pack, audit_signing):
    files = files_of(pack)
    lines = files["events.jsonl"].splitlines(keepends=True)
    proofs = files["proofs.jsonl"].splitlines(keepends=True)
    files["events.jsonl"] = b"".join(lines[:4] + lines[5:])
    files["proofs.jsonl"] = b"".join(proofs[:4] + proofs[5:])
    found = problems(zipped(files), audit_signing.verifier)
    assert "manifest lists 9 events, events.jsonl has 8" in found
    assert "events.jsonl: SHA-256 does not match the manifest" in found


def test_reordered_events_are_refused(pack, audit_signing):
    files = files_of(pack)
    for name in ("events.jsonl", "proofs.jsonl"):
        lines = files[name].splitlines(keepends=True)
        lines[2], lines[3] = lines[3], lines[2]
        files[name] = b"".join(lines)
    resign_manifest(files, audit_signing)
    found = problems(zipped(files), audit_signing.verifier)
    first = json.loads(files["events.jsonl"].splitlines()[3])["sequence"]
    assert f"events out of order: #{first} after #{first + 1}" in found


def test_wrong_key_is_refused(pack):
    other = new_signer("karmo.test/audit").verifier
    assert problems(io.BytesIO(pack), other) == [
        "manifest.txt: no valid signature by karmo.test/audit on the note"
    ]


def test_truncated_zip_is_refused(pack, audit_signing):
    [problem] = problems(io.BytesIO(pack[:-200]), audit_signing.verifier)
    assert problem.startswith("not a readable zip file")


def test_edited_manifest_is_refused(pack, audit_signing):
    files = files_of(pack)
    files["manifest.txt"] = files["manifest.txt"].replace(b"events 9", b"events 8")
    assert problems(zipped(files), audit_signing.verifier) == [
        "manifest.txt: no valid signature by karmo.test/audit on the note"
    ]


def test_file_added_to_the_pack_is_refused(pack, audit_signing):
    files = files_of(pack)
    files["extra.txt"] = b"trust me"
    assert problems(zipped(files), audit_signing.verifier) == ["extra.txt is not in the manifest"]


def test_pack_needs_a_signing_key_and_matching_events(
    auditor_api, settings, help_desk_api, tmp_path
):
    settings.KARMO_AUDIT_SIGNING_KEY = ""
    record(2)
    assert_envelope(auditor_api.get("/audit-events/evidence-pack"), 503, "50309001")
    settings.KARMO_AUDIT_SIGNING_KEY = str(new_signer("karmo.test/audit"))
    settings.KARMO_AUDIT_CHECKPOINT_DIR = tmp_path
    answer = auditor_api.get("/audit-events/evidence-pack?action=nothing.matches")
    assert_envelope(answer, 404, "40409001")
    assert_envelope(help_desk_api.get("/audit-events/evidence-pack"), 403, "40302001")


def test_console_downloads_the_filtered_pack(client, auditor, audit_signing):
    record(3)
    client.force_login(auditor)
    answer = client.get("/audit/evidence.zip?action=test.recorded")
    assert answer.status_code == 200
    assert answer["Content-Disposition"].startswith('attachment; filename="karmo-audit-evidence-')
    data = b"".join(answer.streaming_content)
    verdict = verify_pack(io.BytesIO(data), audit_signing.verifier)
    assert (verdict.ok, verdict.events) == (True, 3)


def test_console_refuses_bad_filters_instead_of_packing_everything(client, auditor, audit_signing):
    record(2)
    client.force_login(auditor)
    answer = client.get("/audit/evidence.zip?since=yesterday")
    assert answer.status_code == 400
    assert "nothing was exported" in answer.content.decode()

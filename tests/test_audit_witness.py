"""`manage.py audit_witness`: a real witness process co-signs the app's checkpoints."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from karmo_verify import open_checkpoint, split_note, verify_cosignature

from accounts.audit import EventSpec, record_events
from accounts.checkpoints import Signer, new_signer, write_checkpoint
from accounts.models import Outcome

pytestmark = pytest.mark.django_db

PORT = 21240  # this worktree's loopback range, below the fixtures' witnesses


def start(log_key: str, key_file: Path, state: Path) -> tuple[subprocess.Popen, list[str]]:
    process = subprocess.Popen(  # noqa: S603 - this repository's manage.py, fixed arguments
        [
            sys.executable,
            str(Path(django_settings.BASE_DIR) / "manage.py"),
            "audit_witness",
            f"--log-key={log_key}",
            f"--key-file={key_file}",
            f"--state={state}",
            f"--port={PORT}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return process, [process.stdout.readline(), process.stdout.readline()]


@pytest.fixture
def witness_key(tmp_path: Path) -> tuple[Signer, Path]:
    signer = new_signer("witness.cmd")
    key_file = tmp_path / "witness.key"
    key_file.write_text(str(signer))
    return signer, key_file


def test_witness_command_cosigns_and_keeps_what_it_holds(audit_signing, witness_key, settings):
    signer, key_file = witness_key
    state = key_file.parent / "held.checkpoint"
    process, (banner, key_line) = start(str(audit_signing.verifier), key_file, state)
    try:
        assert banner.startswith(
            f"witness witness.cmd for karmo.test/audit on http://127.0.0.1:{PORT}"
        )
        settings.KARMO_AUDIT_WITNESS_URL = f"http://127.0.0.1:{PORT}"
        settings.KARMO_AUDIT_WITNESS_KEY = key_line.strip().removeprefix("KARMO_AUDIT_WITNESS_KEY=")
        record_events(
            EventSpec(event_type="test.recorded", outcome=Outcome.RECORDED) for _ in range(3)
        )
        made = write_checkpoint()
        assert (made.witnessed, made.witness_status) == (True, "co-signed by witness.cmd")
        body, signatures = split_note(made.note)
        [cosignature] = [sig for name, sig in signatures if name == "witness.cmd"]
        public = signer.private.public_key().public_bytes_raw()
        assert verify_cosignature(body, cosignature, "witness.cmd", public) is not None
        assert open_checkpoint(state.read_text(), audit_signing.verifier).size == 3
    finally:
        process.terminate()
        process.wait(timeout=10)
    process, (banner, _) = start(str(audit_signing.verifier), key_file, state)
    try:
        assert banner.rstrip().endswith("(holds 3 events)")
    finally:
        process.terminate()
        process.wait(timeout=10)

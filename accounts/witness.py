"""A checkpoint witness (C2SP tlog-witness's add-checkpoint, plus a read of what it holds).

POST /add-checkpoint takes "old N", the consistency proof lines, a blank line and the signed
checkpoint; it answers 409 with the size it holds when N is not that size, 422 when the proof
does not show the new tree extends the one it holds, else 200 with its cosignature/v1 line.
GET /checkpoint returns the latest checkpoint it co-signed. Run one with `manage.py
audit_witness`, on a host the log's writers cannot change; the tests run it on loopback.
"""

from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from karmo_verify import (
    Checkpoint,
    VerificationError,
    VerifierKey,
    cosignature_message,
    open_checkpoint,
    split_note,
    verify_consistency,
)

from accounts.checkpoints import Signer, WitnessKey, new_signer


@dataclass
class Witness:
    """The witness's state: the log key it trusts, its own key, what it holds."""

    log_key: VerifierKey
    signer: Signer = field(default_factory=lambda: new_signer("witness.test"))
    note: str = ""
    held: Checkpoint | None = None
    url: str = ""
    refused: list[int] = field(default_factory=list)
    state: Path | None = None  # where the held checkpoint is kept across restarts

    def add(self, body: str) -> tuple[int, str]:
        """Handle an add-checkpoint body: (HTTP status, answer text)."""
        head, _, note = body.partition("\n\n")
        lines = head.split("\n")
        if not lines[0].startswith("old ") or not lines[0][4:].isdigit():
            return 400, "first line must be 'old <size>'"
        old = int(lines[0][4:])
        try:
            proof = [base64.b64decode(line, validate=True) for line in lines[1:]]
            checkpoint = open_checkpoint(note, self.log_key)
        except (VerificationError, binascii.Error) as exc:
            return 403, str(exc)
        held_size = self.held.size if self.held else 0
        if old != held_size or checkpoint.size < held_size:
            return 409, f"{held_size}\n"
        if self.held is not None and not verify_consistency(
            old, checkpoint.size, self.held.root, checkpoint.root, proof
        ):
            return 422, "consistency proof does not verify"
        body_text, _ = split_note(note)
        signature_line = self.cosign(body_text)
        self.held, self.note = checkpoint, note + signature_line
        if self.state is not None:  # replaced whole, so a crash leaves the old or the new one
            partial = self.state.with_suffix(".partial")
            partial.write_text(self.note, encoding="utf-8")
            partial.replace(self.state)
        return 200, signature_line

    def load(self) -> None:
        """Take up the checkpoint kept in `state`, if any (checked against the log's key)."""
        if self.state is not None and self.state.exists():
            self.note = self.state.read_text(encoding="utf-8")
            self.held = open_checkpoint(self.note, self.log_key)

    @property
    def key(self) -> WitnessKey:
        """The public key its cosignatures verify against (the app's KARMO_AUDIT_WITNESS_KEY)."""
        return WitnessKey(self.signer.name, self.signer.private.public_key().public_bytes_raw())

    def cosign(self, body: str) -> str:
        """A C2SP tlog-cosignature (cosignature/v1) signature line over the checkpoint body."""
        now = int(time.time())
        signed = self.signer.private.sign(cosignature_message(body, now))
        signature = self.key.key_id + now.to_bytes(8, "big") + signed
        return f"\u2014 {self.signer.name} {base64.b64encode(signature).decode()}\n"


def handler(witness: Witness) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            status, text = (
                witness.add(self.rfile.read(length).decode())
                if self.path == "/add-checkpoint"
                else (404, "")
            )
            if status != 200:
                witness.refused.append(status)
            self._answer(status, text, "text/x.tlog.size" if status == 409 else "text/plain")

        def do_GET(self) -> None:
            if self.path == "/checkpoint" and witness.note:
                self._answer(200, witness.note, "text/plain")
            else:
                self._answer(404, "no checkpoint", "text/plain")

        def _answer(self, status: int, text: str, content_type: str) -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            return

    return Handler

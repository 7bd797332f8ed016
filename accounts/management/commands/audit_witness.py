"""Serve a checkpoint witness that co-signs the audit log's checkpoints (cosignature/v1)."""

from __future__ import annotations

from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from karmo_verify import VerificationError, VerifierKey

from accounts.checkpoints import CheckpointError, parse_signer
from accounts.witness import Witness, handler


class Command(BaseCommand):
    help = (
        "Serve a witness for the audit log: it co-signs each checkpoint the log's key signed "
        "once a consistency proof shows it extends the one it holds, and keeps that one in "
        "--state. Run it where the app's database and hosts cannot reach its files; set the "
        "app's KARMO_AUDIT_WITNESS_URL to its address and KARMO_AUDIT_WITNESS_KEY to the key "
        "it prints."
    )
    # The witness runs apart from the app and never touches its database: the app's checks
    # (audit roles, deploy settings) are not its business.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--log-key", required=True, help="The log's public verifier key.")
        parser.add_argument(
            "--key-file",
            type=Path,
            required=True,
            help="A file holding the witness's own PRIVATE+KEY+... (from manage.py audit_keygen).",
        )
        parser.add_argument("--state", type=Path, required=True, help="The held checkpoint.")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8091)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            witness = Witness(
                VerifierKey.parse(options["log_key"]),
                parse_signer(options["key_file"].read_text(encoding="utf-8")),
                state=options["state"],
            )
            witness.load()
        except (OSError, CheckpointError, VerificationError) as exc:
            raise CommandError(str(exc), returncode=1) from exc
        server = ThreadingHTTPServer((options["host"], options["port"]), handler(witness))
        host, port = server.server_address[:2]
        held = witness.held.size if witness.held else 0
        self.stdout.write(
            f"witness {witness.signer.name} for {witness.log_key.name} on http://{host}:{port} "
            f"(holds {held} events)",
        )
        self.stdout.write(f"KARMO_AUDIT_WITNESS_KEY={witness.key}")
        self.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()

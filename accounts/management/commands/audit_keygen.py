"""Make an Ed25519 key for signing audit checkpoints; prints the private and the public key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.checkpoints import CheckpointError, new_signer


class Command(BaseCommand):
    help = (
        "Make a checkpoint signing key. Put the first line in KARMO_AUDIT_SIGNING_KEY (a secret); "
        "give the second, the public verifier key, to auditors and witnesses."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--name",
            default="karmo-admin/audit",
            help="The log's origin, printed on every checkpoint (e.g. karmo.example.com/audit).",
        )

    def handle(self, *args: Any, name: str, **options: Any) -> None:
        try:
            signer = new_signer(name)
        except CheckpointError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"KARMO_AUDIT_SIGNING_KEY={signer}")
        self.stdout.write(f"public key: {signer.verifier}")

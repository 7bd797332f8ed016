"""Sign a checkpoint of the audit log now; --schedule books the recurring checkpoint task."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.checkpoint_task import schedule_checkpoints
from accounts.checkpoints import CheckpointError, write_checkpoint


class Command(BaseCommand):
    help = (
        "Sign the audit log's size and Merkle root as a checkpoint, write it to the checkpoint "
        "directory and submit it to the witness (when configured)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--schedule",
            action="store_true",
            help="Also book the checkpoint task every KARMO_AUDIT_CHECKPOINT_SECONDS on the "
            "task worker (once: an already waiting run is kept).",
        )

    def handle(self, *args: Any, schedule: bool = False, **options: Any) -> None:
        try:
            made = write_checkpoint()
        except CheckpointError as exc:
            raise CommandError(str(exc), returncode=1) from exc
        if made is None:
            self.stdout.write("no checkpoint: the audit log is empty")
        else:
            self.stdout.write(made.note.rstrip("\n"))
            self.stdout.write(
                f"checkpoint at {made.tree_size} events; witness: {made.witness_status}"
            )
        if schedule:
            booked = schedule_checkpoints()
            seconds = settings.KARMO_AUDIT_CHECKPOINT_SECONDS
            if booked is None:
                self.stdout.write(
                    "no recurring checkpoint: it needs KARMO_AUDIT_CHECKPOINT_SECONDS > 0 "
                    f"(now {seconds}) and the database task backend"
                )
            else:
                self.stdout.write(f"next checkpoint task booked (then every {seconds} s)")

"""Verify the audit log's chain, its Merkle tree and the signed checkpoints; exit 1 on a fault."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.audit_verify import verify_and_remember


class Command(BaseCommand):
    help = (
        "Verify the audit log: the hash chain, the Merkle tree rebuilt from the events, and that "
        "tree against every signed checkpoint in the checkpoint directory and at the witness. "
        "Exits 1 naming the fault; on success the last line is 'audit log verified: N events'."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        result, against = verify_and_remember()
        if not result.ok:
            self.stdout.write(f"{result.count} events verified before the fault")
            where = f"audit log broken at event #{result.broken_at}: " if result.broken_at else ""
            problem = result.problem
            if problem.startswith(("audit log truncated", "audit log rewritten")):
                where = ""
            raise CommandError(f"{where}{problem}", returncode=1)
        self.stdout.write(against)
        self.stdout.write(f"audit log verified: {result.count} events")

"""Walk the audit log's hash chain; exit 1 at the first broken or missing link."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.audit import verify_and_remember


class Command(BaseCommand):
    help = (
        "Verify the audit log's hash chain. Exits 1 naming the first broken or missing event; "
        "on success the last line is 'audit log verified: N events'."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        result = verify_and_remember()
        if not result.ok:
            self.stdout.write(f"{result.count} events verified before the break")
            raise CommandError(
                f"audit log broken at event #{result.broken_at}: {result.problem}", returncode=1
            )
        self.stdout.write(f"audit log verified: {result.count} events")

"""Close pending reactivation requests past their expiry; --schedule books the recurring sweep."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from accounts.approvals import expire_requests, schedule_expiry_sweep
from accounts.context import audit_context
from accounts.models import Channel
from accounts.time_limits import schedule_time_limits


class Command(BaseCommand):
    help = "Close pending reactivation requests past their expiry; they are never executed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--schedule",
            action="store_true",
            help="Also book the sweep task to run every KARMO_EXPIRY_SWEEP_MINUTES on the task "
            "worker, and the time-limit task every KARMO_TIME_LIMIT_SWEEP_MINUTES (once each: "
            "an already waiting run is kept).",
        )

    def handle(self, *args: Any, schedule: bool = False, **options: Any) -> None:
        with audit_context(via=Channel.COMMAND):
            count = expire_requests()
        self.stdout.write(f"expired {count} request{'s' if count != 1 else ''}")
        if not schedule:
            return
        limits_booked = schedule_time_limits()
        if limits_booked is not None:
            self.stdout.write(
                "time-bound access ended every "
                f"{settings.KARMO_TIME_LIMIT_SWEEP_MINUTES} min by the task worker"
            )
        booked = schedule_expiry_sweep()
        if booked is None:
            self.stdout.write(
                "no recurring sweep: it needs KARMO_EXPIRY_SWEEP_MINUTES > 0 "
                f"(now {settings.KARMO_EXPIRY_SWEEP_MINUTES}) and the database task backend"
            )
            return
        run_after = booked.task.run_after
        when = run_after.isoformat(timespec="seconds") if run_after else "as soon as possible"
        self.stdout.write(
            f"next expiry sweep: {when} (then every {settings.KARMO_EXPIRY_SWEEP_MINUTES} min)"
        )

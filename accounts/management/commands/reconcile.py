"""Settle change attempts that never got an outcome (a crash between provider call and commit)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.context import audit_context
from accounts.errors import KarmoError, from_provider_error
from accounts.models import Channel
from accounts.services.reconcile import DEFAULT_GRACE, reconcile
from providers.errors import ProviderError


class Command(BaseCommand):
    help = (
        "Find attempted changes without an outcome, read their targets from the provider, "
        "update the mirror and record the outcome (data.reconciled = true)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--grace",
            type=float,
            default=DEFAULT_GRACE.total_seconds(),
            help="seconds an attempt may stay open before it counts as interrupted (default 300)",
        )
        parser.add_argument(
            "--days", type=int, default=None, help="only look at attempts of the last N days"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        since = timezone.now() - timedelta(days=options["days"]) if options["days"] else None
        with audit_context(via=Channel.COMMAND):
            try:
                report = reconcile(grace=timedelta(seconds=options["grace"]), since=since)
            except (ProviderError, KarmoError) as exc:
                error = exc if isinstance(exc, KarmoError) else from_provider_error(exc, "")
                raise CommandError(f"{error.code.code}: {error.message}") from exc
        for event in report.settled:
            self.stdout.write(
                f"#{event.data['attempt']} {event.event_type} {event.target_id or '-'}: "
                f"{event.outcome}{' ' + event.error_code if event.error_code else ''}"
            )
        for attempt, why in report.left_open:
            self.stdout.write(f"#{attempt.sequence} {attempt.event_type}: left open ({why})")
        self.stdout.write(
            f"reconciled {len(report.settled)} attempts, {len(report.left_open)} left open"
        )
        if report.left_open:
            raise CommandError("some attempts could not be settled; run again later", returncode=2)

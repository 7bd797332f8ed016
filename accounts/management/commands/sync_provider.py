"""`manage.py sync_provider`: a full sync from the configured provider, with progress."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper

from accounts.context import audit_context
from accounts.errors import KarmoError
from accounts.models import Channel, SyncRun
from accounts.sync import RequestCounter, abandon_active_runs, run_sync
from accounts.sync.feed import run_incremental, schedule_feed_poll, schedule_reconciliation
from providers.errors import ProviderError
from providers.registry import get_provider


class ProgressLine:
    """Phase and counts: rewritten in place on a terminal, a plain line now and then otherwise."""

    def __init__(
        self, stream: OutputWrapper, counter: RequestCounter, interval: float = 5.0
    ) -> None:
        self.stream = stream
        self.counter = counter
        self.tty = stream.isatty()
        self.interval = interval
        self._last_phase = self._last_text = ""
        self._last_line = time.monotonic()

    def __call__(self, run: SyncRun) -> None:
        text = (
            f"{run.phase}: seen={run.seen} created={run.created} updated={run.updated} "
            f"removed={run.removed} unchanged={run.unchanged} requests={self.counter.count}"
        )
        now = time.monotonic()
        if self.tty:
            self.stream.write(f"\r\x1b[2K{text}", ending="")
            self.stream.flush()
        elif self._last_text and run.phase != self._last_phase:
            self.stream.write(self._last_text)  # the finished phase's totals
            self._last_line = now
        elif now - self._last_line >= self.interval:
            self.stream.write(text)
            self._last_line = now
        self._last_phase, self._last_text = run.phase, text

    def close(self) -> None:
        """End the in-place line, or print the last phase's totals."""
        if self.tty:
            self.stream.write("")
        elif self._last_text:
            self.stream.write(self._last_text)


class Command(BaseCommand):
    help = "Sync organizations, users, memberships and roles from the configured provider."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size", type=int, default=None, help="Rows per batch (KARMO_SYNC_BATCH_SIZE)."
        )
        parser.add_argument(
            "--incremental",
            action="store_true",
            help="Apply the provider's event feed since the last sync (a full sync when the "
            "feed cannot be trusted, saying why).",
        )
        parser.add_argument(
            "--schedule",
            action="store_true",
            help="Also book the feed poll (every KARMO_FEED_POLL_SECONDS) and the full "
            "reconciliation (every KARMO_RECONCILE_HOURS) on the task worker.",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Mark queued or running syncs failed first (after a worker died).",
        )

    def handle(
        self,
        *args: Any,
        batch_size: int | None,
        force: bool,
        incremental: bool,
        schedule: bool,
        **options: Any,
    ) -> None:
        started = time.monotonic()
        with audit_context(via=Channel.COMMAND):
            if force:
                abandoned = abandon_active_runs(reason="abandoned: sync_provider --force")
                self.stderr.write(f"marked {abandoned} unfinished sync run(s) failed")
            try:
                provider = get_provider()
            except ProviderError as exc:
                # Still recorded as a failed run, so the console shows why.
                run = run_sync()
                raise CommandError(f"sync failed: {run.errors or exc.message}") from exc
            counter = RequestCounter(provider)
            progress = ProgressLine(self.stdout, counter)
            try:
                if incremental:
                    run = run_incremental(provider=provider)
                else:
                    run = run_sync(provider=provider, progress=progress, batch_size=batch_size)
            except KarmoError as exc:
                raise CommandError(exc.message) from exc
            finally:
                progress.close()
                provider.close()
        seconds = time.monotonic() - started
        if run.state != SyncRun.State.SUCCEEDED:
            raise CommandError(f"sync failed: {run.errors}")
        if run.errors:
            self.stderr.write(run.errors)
        if run.reason:
            self.stdout.write(f"full sync instead of incremental: {run.reason}")
        if schedule:
            self._schedule()
        self.stdout.write(f"mode: {run.mode}")
        self.stdout.write(
            f"sync: created={run.created} updated={run.updated} removed={run.removed} "
            f"unchanged={run.unchanged} requests={counter.count} seconds={seconds:.2f}"
        )

    def _schedule(self) -> None:
        polled, reconciled = schedule_feed_poll(), schedule_reconciliation()
        self.stdout.write(
            f"feed poll every {settings.KARMO_FEED_POLL_SECONDS} s"
            if polled
            else "no feed poll: KARMO_FEED_POLL_SECONDS is 0 or the task backend keeps no queue"
        )
        self.stdout.write(
            f"full reconciliation every {settings.KARMO_RECONCILE_HOURS} h"
            if reconciled
            else "no reconciliation: KARMO_RECONCILE_HOURS is 0 or the task backend keeps no queue"
        )

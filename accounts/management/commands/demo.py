"""`manage.py demo`: migrate, seed the sandbox, sync, create demo logins, serve with a worker."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection, transaction

from accounts.checkpoint_task import schedule_checkpoints
from accounts.context import audit_context
from accounts.errors import KarmoError
from accounts.models import Channel, SyncRun
from accounts.permissions import AUDITOR, HELP_DESK, MANAGER
from accounts.sync import run_sync
from accounts.sync.feed import schedule_feed_poll, schedule_reconciliation
from providers.errors import ProviderError
from providers.registry import get_provider

# (username, group, superuser): the demo's staff logins, one per role plus the superuser.
DEMO_LOGINS = [
    ("helpdesk", HELP_DESK, False),
    ("manager", MANAGER, False),
    ("auditor", AUDITOR, False),
    ("admin", None, True),
]


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = "Set up the sandbox demo (migrate, seed, sync, staff logins) and serve it."
    # Checks open the database, which on a fresh clone must get its directory first;
    # migrate runs them right after.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8000, help="Port on 127.0.0.1.")
        parser.add_argument("--no-serve", action="store_true", help="Set up, then exit.")
        parser.add_argument(
            "--no-seed", action="store_true", help="Skip seeding the sandbox and the first sync."
        )

    def handle(self, *args: Any, port: int, no_serve: bool, no_seed: bool, **options: Any) -> None:
        verbosity = options.get("verbosity", 1)
        database = connection.settings_dict
        if database["ENGINE"].endswith("sqlite3") and str(database["NAME"]) != ":memory:":
            Path(database["NAME"]).parent.mkdir(parents=True, exist_ok=True)  # a fresh clone
        self.stdout.write("Migrating the database…")
        call_command("migrate", interactive=False, verbosity=max(0, verbosity - 1))
        if not no_seed:
            with audit_context(via=Channel.COMMAND):
                self._seed_and_sync()
        self._logins()
        if no_serve:
            return
        self.book_tasks()
        self._serve(port, verbosity)

    def book_tasks(self) -> None:
        """Book the recurring tasks the demo's worker runs (each books its own next run)."""
        call_command("expire_requests", "--schedule", stdout=self.stdout)
        if schedule_feed_poll() is not None:
            self.stdout.write(f"feed poll every {settings.KARMO_FEED_POLL_SECONDS} s")
        schedule_reconciliation()
        if not settings.KARMO_AUDIT_SIGNING_KEY:  # the task would only fail every interval
            self.stdout.write(
                "no audit checkpoints: set KARMO_AUDIT_SIGNING_KEY (manage.py audit_keygen)"
            )
        elif schedule_checkpoints() is not None:
            seconds = settings.KARMO_AUDIT_CHECKPOINT_SECONDS
            self.stdout.write(f"audit checkpoint every {seconds} s")

    def _seed_and_sync(self) -> None:
        try:
            provider = get_provider()  # the sandbox seeds its emulator on first use
        except ProviderError as exc:
            self.stderr.write(f"Provider {settings.KARMO_PROVIDER} is not usable: {exc.message}")
            return
        self.stdout.write(f"Syncing from {settings.KARMO_PROVIDER}…")
        try:
            run = run_sync(provider=provider)
        except KarmoError as error:
            self.stderr.write(f"Sync skipped: {error.message}")
            return
        finally:
            provider.close()
        if run.state == SyncRun.State.SUCCEEDED:
            self.stdout.write(
                f"sync: created={run.created} updated={run.updated} removed={run.removed} "
                f"unchanged={run.unchanged}"
            )
        else:
            self.stderr.write(f"Sync failed (the console still works): {run.errors}")

    def _logins(self) -> None:
        fixed = os.environ.get("KARMO_DEMO_PASSWORD", "")
        lines = []
        for username, group_name, superuser in DEMO_LOGINS:
            with transaction.atomic():
                user, created = User.objects.get_or_create(
                    username=username, defaults={"email": f"{username}@karmo.example"}
                )
                password = fixed or (secrets.token_urlsafe(12) if created else "")
                user.is_staff = True
                user.is_superuser = superuser
                if password:
                    user.set_password(password)
                user.save()
                if group_name:
                    user.groups.add(Group.objects.get(name=group_name))
            role = group_name or "superuser"
            if password:
                lines.append(f"  {username:<9} {password:<20} {role}")
            else:
                lines.append(
                    f"  {username:<9} {'(already set)':<20} {role}; "
                    f"reset: python manage.py changepassword {username}"
                )
        self.stdout.write("Demo staff logins (username, password, role):")
        self.stdout.write("\n".join(lines))
        if not fixed and any("(already set)" not in line for line in lines):
            self.stdout.write(
                "These passwords are shown only once (KARMO_DEMO_PASSWORD fixes them)."
            )

    def _serve(self, port: int, verbosity: int) -> None:
        call_command("collectstatic", interactive=False, verbosity=0)
        manage = Path(settings.BASE_DIR) / "manage.py"
        worker = subprocess.Popen(  # noqa: S603 - our own manage.py with fixed arguments
            [sys.executable, str(manage), "db_worker", "--verbosity", str(verbosity)]
        )
        previous = signal.signal(signal.SIGTERM, _terminate)
        base = f"http://127.0.0.1:{port}"
        self.stdout.write(
            f"\nKarmo Admin: {base}/  (console)   {base}/admin/  (Django admin)\n"
            f"Task worker running (pid {worker.pid}). Stop with Ctrl-C.\n"
        )
        try:
            call_command(
                "runserver", f"127.0.0.1:{port}", use_reloader=False, insecure_serving=True
            )
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            worker.terminate()
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()

"""Issue an API token for a staff user; the raw token is printed once, alone on the last line."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from accounts.context import audit_context
from accounts.models import Channel
from accounts.tokens import issue_token


class Command(BaseCommand):
    help = "Create an API token acting with a staff user's permissions; prints it once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True, help="Username of an active staff user.")
        parser.add_argument("--name", default="", help="What the token is for.")
        parser.add_argument(
            "--expires-in", type=int, default=None, metavar="DAYS", help="Days until it expires."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        try:
            user = user_model.objects.get(**{user_model.USERNAME_FIELD: options["user"]})
        except user_model.DoesNotExist:
            raise CommandError(f"No user {options['user']!r}.") from None
        if not (user.is_active and user.is_staff):
            raise CommandError(f"{options['user']!r} is not an active staff user.")
        days = options["expires_in"]
        if days is not None and days < 1:
            raise CommandError("--expires-in must be at least 1 day.")
        expires_at = timezone.now() + timedelta(days=days) if days else None
        name = options["name"] or f"{user.get_username()} (command line)"
        with audit_context(via=Channel.COMMAND):
            token, raw = issue_token(user, name[:100], expires_at=expires_at)
        expiry = f"expires {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else "never expires"
        self.stdout.write(
            f"Token {token.prefix}… for {user.get_username()} ({expiry}). "
            "Store it now; it is not shown again:"
        )
        self.stdout.write(raw)

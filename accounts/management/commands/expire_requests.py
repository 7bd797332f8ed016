"""Close pending reactivation requests past their expiry."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from accounts.approvals import expire_requests
from accounts.context import audit_context
from accounts.models import Channel


class Command(BaseCommand):
    help = "Close pending reactivation requests past their expiry; they are never executed."

    def handle(self, *args: Any, **options: Any) -> None:
        with audit_context(via=Channel.COMMAND):
            count = expire_requests()
        self.stdout.write(f"expired {count} request{'s' if count != 1 else ''}")

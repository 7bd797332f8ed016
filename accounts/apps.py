"""App config for the mirror, its services and the console."""

from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Karmo's one app: mirror, services, audit, approvals, API and console."""

    name = "accounts"
    verbose_name = "Customer access"

    def ready(self) -> None:
        from accounts import checks  # noqa: F401 - registers the system checks
        from accounts.staff import checks as staff_checks  # noqa: F401 - registers its checks
        from accounts.staff import events

        events.connect()

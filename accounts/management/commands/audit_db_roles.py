"""Print the grants that make a PostgreSQL role a least-privilege runtime role for Karmo."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection

from accounts.db_roles import audit_write_powers, runtime_grants


class Command(BaseCommand):
    help = (
        "Print the SQL the migration role (owner of the tables) runs, after every migrate, to let "
        "RUNTIME_ROLE read and append audit rows but never update, delete or truncate them; "
        "then report what the role this command connects as could do to audit history."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("runtime_role", help="the role the web server and task worker use")

    def handle(self, *args: Any, runtime_role: str, **options: Any) -> None:
        for statement in runtime_grants(runtime_role, connection.settings_dict["NAME"]):
            self.stdout.write(f"{statement};")
        for power in audit_write_powers(connection):
            self.stderr.write(f"-- the current role {power}")

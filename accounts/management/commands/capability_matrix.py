"""Print the provider capability matrix, or rewrite it inside README.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from providers.matrix import END, START, render_matrix, replace_matrix


class Command(BaseCommand):
    help = "Print the capability matrix built from the adapters, or --write it into README.md."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--write", action="store_true", help="update README.md in place")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["write"]:
            self.stdout.write(render_matrix())
            return
        readme = Path(settings.BASE_DIR) / "README.md"
        text = readme.read_text()
        if START not in text or END not in text:
            raise CommandError(f"README.md lacks the {START} … {END} markers")
        readme.write_text(replace_matrix(text))
        self.stdout.write("README.md capability matrix updated")

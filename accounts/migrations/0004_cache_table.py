"""The database cache table (shared by every app server; no per-process state)."""

from __future__ import annotations

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_audit_append_only")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]

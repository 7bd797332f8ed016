"""Substring search indexes: pg_trgm GIN on PostgreSQL, an FTS5 trigram table on SQLite."""

from django.db import migrations

from accounts.search_index import migrate_backward, migrate_forward


class Migration(migrations.Migration):
    dependencies = [("accounts", "0014_sync_heartbeat")]

    operations = [migrations.RunPython(migrate_forward, migrate_backward)]

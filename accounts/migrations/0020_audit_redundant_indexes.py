"""Drop two audit-table indexes that no query needs and every append pays for.

- The actor's own index: audit_actor_idx (actor, -sequence) starts with the same column.
- On PostgreSQL, the `varchar_pattern_ops` copy of the unique hash index that Django adds for
  LIKE lookups: nothing searches hashes by prefix, the unique index serves equality.

The table is not rebuilt: on SQLite that would drop the append-only triggers with it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import migrations, models

TABLE = "accounts_auditevent"
ACTOR_INDEX = "accounts_auditevent_actor_id_179eee89"
HASH_LIKE_INDEX = "accounts_auditevent_hash_22dea186_like"


def drop(apps, schema_editor):
    schema_editor.execute(f"DROP INDEX IF EXISTS {ACTOR_INDEX}")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {HASH_LIKE_INDEX}")


def restore(apps, schema_editor):
    schema_editor.execute(f"CREATE INDEX {ACTOR_INDEX} ON {TABLE} (actor_id)")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX {HASH_LIKE_INDEX} ON {TABLE} (hash varchar_pattern_ops)"
        )


class Migration(migrations.Migration):
    dependencies = [("accounts", "0019_audit_tree_append_only")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(drop, restore)],
            state_operations=[
                migrations.AlterField(
                    model_name="auditevent",
                    name="actor",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=models.deletion.DO_NOTHING,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
        ),
    ]

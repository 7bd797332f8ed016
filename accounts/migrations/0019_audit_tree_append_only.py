"""Make the database refuse UPDATE, DELETE and TRUNCATE on the audit events' Merkle tree nodes.

A rewritten node would let a forged root pass as the tree of the events, so the nodes get the
protection migration 0003 gave the events.
"""

from __future__ import annotations

from django.db import migrations

TABLE = "accounts_audittreenode"

SQLITE = [
    f"""CREATE TRIGGER audittreenode_no_update BEFORE UPDATE ON {TABLE}
        BEGIN SELECT RAISE(ABORT, 'audit tree nodes are append-only'); END""",
    f"""CREATE TRIGGER audittreenode_no_delete BEFORE DELETE ON {TABLE}
        BEGIN SELECT RAISE(ABORT, 'audit tree nodes are append-only'); END""",
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS audittreenode_no_update",
    "DROP TRIGGER IF EXISTS audittreenode_no_delete",
]
POSTGRES = [
    """CREATE OR REPLACE FUNCTION karmo_audit_tree_append_only() RETURNS trigger AS $$
        BEGIN RAISE EXCEPTION 'audit tree nodes are append-only'; END $$ LANGUAGE plpgsql""",
    f"""CREATE TRIGGER audittreenode_append_only BEFORE UPDATE OR DELETE ON {TABLE}
        FOR EACH ROW EXECUTE FUNCTION karmo_audit_tree_append_only()""",
    f"""CREATE TRIGGER audittreenode_no_truncate BEFORE TRUNCATE ON {TABLE}
        FOR EACH STATEMENT EXECUTE FUNCTION karmo_audit_tree_append_only()""",
]
POSTGRES_REVERSE = [
    f"DROP TRIGGER IF EXISTS audittreenode_no_truncate ON {TABLE}",
    f"DROP TRIGGER IF EXISTS audittreenode_append_only ON {TABLE}",
    "DROP FUNCTION IF EXISTS karmo_audit_tree_append_only()",
]


def install(apps, schema_editor):
    statements = POSTGRES if schema_editor.connection.vendor == "postgresql" else SQLITE
    for sql in statements:
        schema_editor.execute(sql)


def uninstall(apps, schema_editor):
    statements = (
        POSTGRES_REVERSE if schema_editor.connection.vendor == "postgresql" else SQLITE_REVERSE
    )
    for sql in statements:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0018_time_bound_access")]

    operations = [migrations.RunPython(install, uninstall)]

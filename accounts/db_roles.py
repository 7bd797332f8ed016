"""Least privilege on PostgreSQL: the running app may read and append audit rows, nothing more.

Production uses two roles. The migration role owns every table (it runs `migrate`); the runtime
role the web server and task worker connect as gets SELECT and INSERT on the audit tables and
the usual rights elsewhere. Only an owner or a superuser can disable the append-only triggers
(ALTER TABLE … DISABLE TRIGGER, SET session_replication_role), so a compromised app cannot
update, delete or truncate audit history. `audit_write_powers()` names what the current role
could still do; `manage.py check` warns with it.
"""

from __future__ import annotations

from django.db.backends.base.base import BaseDatabaseWrapper

AUDIT_TABLES = ("accounts_auditevent", "accounts_audittreenode")
_PRIVILEGES = ("UPDATE", "DELETE", "TRUNCATE", "TRIGGER")


def audit_write_powers(connection: BaseDatabaseWrapper) -> list[str]:
    """What the connected role could do to audit history (empty: nothing; SQLite: not asked)."""
    if connection.vendor != "postgresql":
        return []
    powers = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        (superuser,) = cursor.fetchone()
        if superuser:
            return ["is a superuser: it can switch the append-only triggers off"]
        for table in AUDIT_TABLES:
            cursor.execute(
                "SELECT pg_has_role(current_user, tableowner, 'USAGE') FROM pg_tables "
                "WHERE schemaname = current_schema() AND tablename = %s",
                [table],
            )
            row = cursor.fetchone()
            if row and row[0]:
                powers.append(f"owns {table}: it can disable its triggers or drop it")
            for privilege in _PRIVILEGES:
                cursor.execute(
                    "SELECT has_table_privilege(current_user, %s, %s)", [table, privilege]
                )
                if cursor.fetchone()[0]:
                    powers.append(f"has {privilege} on {table}")
    return powers


def runtime_grants(role: str, database: str) -> list[str]:
    """The statements the migration role runs to give `role` what the running app needs."""
    quoted = '"' + role.replace('"', '""') + '"'
    db = '"' + database.replace('"', '""') + '"'
    audit = ", ".join(AUDIT_TABLES)
    return [
        f"GRANT CONNECT ON DATABASE {db} TO {quoted}",
        f"GRANT USAGE ON SCHEMA public TO {quoted}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}",
        f"REVOKE UPDATE, DELETE, TRUNCATE, TRIGGER ON {audit} FROM {quoted}",
    ]

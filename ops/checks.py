"""System checks for settings that are dangerous in production (`manage.py check --deploy`)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

DEVELOPMENT_SECRET_KEY = "insecure-dev-key-change-me-in-production-0123456789"
PLACEHOLDER = "change-me"
MIN_METRICS_TOKEN = 32


@register(Tags.security, deploy=True)
def check_production_settings(app_configs: Any = None, **kwargs: Any) -> list:
    """Refuse the development secret and placeholders; warn about test-only choices."""
    problems: list = []
    if settings.SECRET_KEY == DEVELOPMENT_SECRET_KEY or PLACEHOLDER in settings.SECRET_KEY:
        problems.append(
            Error(
                "DJANGO_SECRET_KEY is the development key or a placeholder.",
                hint="Set a long random value, e.g. from `python -c 'import secrets; "
                "print(secrets.token_urlsafe(50))'`.",
                id="ops.E001",
            )
        )
    if settings.KARMO_PROVIDER == "sandbox":
        problems.append(
            Warning(
                "KARMO_PROVIDER is the sandbox: changes go to an emulator, not to customers.",
                id="ops.W001",
            )
        )
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        problems.append(
            Warning(
                "SQLite serves one machine; several web and task processes need PostgreSQL.",
                hint="Set DATABASE_URL=postgres://…",
                id="ops.W002",
            )
        )
    if settings.KARMO_API_RATE_LIMIT <= 0:
        problems.append(
            Warning("KARMO_API_RATE_LIMIT=0 turns the API rate limit off.", id="ops.W003")
        )
    if not settings.KARMO_STATIC_MANIFEST:
        problems.append(
            Warning(
                "Static files are served without hashed names (KARMO_STATIC_MANIFEST=false).",
                hint="Set KARMO_STATIC_MANIFEST=true and run collectstatic when building.",
                id="ops.W005",
            )
        )
    return problems


@register(Tags.security)
def check_ops_settings(app_configs: Any = None, **kwargs: Any) -> list:
    """Mistakes that are wrong in every environment."""
    problems: list = []
    token = settings.KARMO_METRICS_TOKEN
    if token and len(token) < MIN_METRICS_TOKEN:
        problems.append(
            Error(
                f"KARMO_METRICS_TOKEN is shorter than {MIN_METRICS_TOKEN} characters.",
                id="ops.E002",
            )
        )
    replica = settings.DATABASES.get("replica")
    if replica and all(
        replica.get(key) == settings.DATABASES["default"].get(key)
        for key in ("ENGINE", "NAME", "HOST", "PORT")
    ):
        problems.append(
            Warning(
                "DATABASE_REPLICA_URL names the primary database itself.",
                id="ops.W004",
            )
        )
    return problems

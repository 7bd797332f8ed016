"""System checks for the staff sign-in settings."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

ROLES = {"helpdesk", "manager", "auditor", "superuser"}
_DECIDERS = {"manager", "auditor", "superuser"}


@register(Tags.security)
def check_mfa_roles(app_configs: Any = None, **kwargs: Any) -> list:
    """A misspelt role in KARMO_MFA_REQUIRED_FOR would silently require nothing."""
    unknown = sorted({name.strip().lower() for name in settings.KARMO_MFA_REQUIRED_FOR} - ROLES)
    if not unknown:
        return []
    return [
        Error(
            f"KARMO_MFA_REQUIRED_FOR names unknown roles: {', '.join(unknown)}.",
            hint=f"Use any of: {', '.join(sorted(ROLES))}.",
            id="staff.E001",
        )
    ]


@register(Tags.security, deploy=True)
def check_staff_sign_in(app_configs: Any = None, **kwargs: Any) -> list:
    """Outside the sandbox, the people who change or read access use a second factor."""
    problems: list = []
    required = {name.strip().lower() for name in settings.KARMO_MFA_REQUIRED_FOR}
    if settings.KARMO_PROVIDER != "sandbox" and not required >= _DECIDERS:
        problems.append(
            Warning(
                "KARMO_MFA_REQUIRED_FOR does not cover managers, auditors and superusers.",
                hint="Set KARMO_MFA_REQUIRED_FOR=manager,auditor,superuser (or add helpdesk).",
                id="staff.W001",
            )
        )
    insecure = [o for o in settings.OTP_WEBAUTHN_ALLOWED_ORIGINS if not o.startswith("https://")]
    if insecure:
        problems.append(
            Warning(
                f"Passkeys are allowed from origins without HTTPS: {', '.join(insecure)}.",
                hint="Set KARMO_WEBAUTHN_ORIGINS=https://<host> and KARMO_WEBAUTHN_RP_ID=<host>.",
                id="staff.W002",
            )
        )
    return problems

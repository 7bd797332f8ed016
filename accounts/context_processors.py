"""Template context every console page needs: provider state and the signed-in role."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from providers.registry import provider_status


def console(request: HttpRequest) -> dict[str, Any]:
    """Provider name and configuration state for the header."""
    return {"provider_status": provider_status()}

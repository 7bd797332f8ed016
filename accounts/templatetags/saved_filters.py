"""{% saved_filters_panel page query %}: the saved-filters panel on the audit log and Find."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.http import urlencode

from accounts.views.saved_filters import panel_context

register = template.Library()


@register.inclusion_tag("components/saved_filters.html", takes_context=True)
def saved_filters_panel(
    context: dict[str, Any], page: str, query: str = "", q: str = ""
) -> dict[str, Any]:
    """The signed-in user's filters for `page`, and a form to save the current filters
    (`query`, a query string, or Find's search text `q`) under a name."""
    request = context["request"]
    current = urlencode({"q": q}) if q else query or ""
    return {
        **panel_context(request.user, page, current),
        "csrf_token": context.get("csrf_token"),
        "request": request,
    }

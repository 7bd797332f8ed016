"""Light, dark or the system's choice: remembered per browser in a cookie.

The server reads the cookie and writes `data-theme` on <html>, so the first paint already has
the right colours without an inline script (which the CSP refuses).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

COOKIE = "karmo_theme"
CHOICES = ("auto", "dark", "light")
LABELS = {"auto": "Auto", "dark": "Dark", "light": "Light"}
ONE_YEAR = 365 * 24 * 3600


def current(request: HttpRequest) -> str:
    """The theme this browser chose, or auto (follow prefers-color-scheme)."""
    value = request.COOKIES.get(COOKIE, "auto")
    return value if value in CHOICES else "auto"


def theme_context(request: HttpRequest) -> dict[str, Any]:
    """What the header's toggle shows: the current theme and the one a click switches to."""
    theme = current(request)
    following = CHOICES[(CHOICES.index(theme) + 1) % len(CHOICES)]
    return {
        "theme": theme,
        "theme_label": LABELS[theme],
        "theme_next": following,
        "theme_next_label": LABELS[following],
    }


@require_POST
def set_theme(request: HttpRequest) -> HttpResponse:
    """Remember the chosen theme and go back to the page the toggle was on."""
    theme = request.POST.get("theme", "auto")
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        back = "/"
    response = HttpResponseRedirect(back)
    if theme in ("dark", "light"):
        response.set_cookie(
            COOKIE, theme, max_age=ONE_YEAR, samesite="Lax", secure=request.is_secure()
        )
    else:
        response.delete_cookie(COOKIE, samesite="Lax")
    return response

"""Re-authentication before changes to access: a recent password and second factor."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

from accounts.errors import ErrorCode
from accounts.models import Outcome
from accounts.staff import policy
from accounts.staff.events import record_staff_event

View = Callable[..., HttpResponse]


def go_to(
    request: HttpRequest, url: str, *, back: str | None = None, expired: bool = False
) -> HttpResponse:
    """Send the browser to `url` (htmx: the whole page), remembering where it was going.

    `expired` tells the sign-in page (and console.js, which keeps typed drafts) why.
    """
    if back is None:
        current = getattr(request, "htmx", None)
        back = (current.current_url_abs_path if current else None) or request.get_full_path()
    query = {"next": back, **({"expired": "1"} if expired else {})}
    target = f"{url}?{urlencode(query)}"
    if getattr(request, "htmx", None):
        return HttpResponseClientRedirect(target)
    return redirect(target)


def refuse_stale(
    request: HttpRequest, event_type: str, *, target: Any = None, back: str | None = None
) -> HttpResponse | None:
    """None when the session proved itself recently; else audit the refusal and ask again."""
    if policy.is_fresh(request.session):
        return None
    record_staff_event(
        event_type,
        Outcome.DENIED,
        target=target,
        error_code=ErrorCode.REAUTH_REQUIRED.code,
        data={"path": request.path, "reauth_minutes": settings.KARMO_REAUTH_MINUTES},
    )
    return go_to(request, reverse("reauth"), back=back)


def fresh_auth_required(
    event_type: str, model: type[Model] | None = None
) -> Callable[[View], View]:
    """A view that changes access runs only within KARMO_REAUTH_MINUTES of a full proof.

    `event_type` and `model` (what the URL's `pk` names) describe the refused attempt.
    """

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            target = None
            if model is not None and "pk" in kwargs and not policy.is_fresh(request.session):
                target = model._default_manager.filter(pk=kwargs["pk"]).first()
            refused = refuse_stale(request, event_type, target=target)
            return refused or view(request, *args, **kwargs)

        return wrapper

    return decorator

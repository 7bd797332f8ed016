"""The landing page and Find."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.contrib.auth.views import LogoutView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_safe

from accounts import selectors, services
from accounts.permissions import VIEW_AUDIT
from accounts.scopes import scoped
from accounts.views.base import HtmxHttpRequest, console_view, page


class SignOutView(LogoutView):
    """Sign out, and say so on the page that follows."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        messages.success(request, "You are signed out.")
        return response


sign_out = SignOutView.as_view()


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    """Landing page: where a newcomer starts, or a staff member's shortcuts."""
    context = {}
    if request.user.is_staff and request.user.has_perm(VIEW_AUDIT):
        context["verification_failures"] = scoped(
            request.user, services.unresolved_failures()
        ).count()
    return render(request, "console/home.html", context)


@require_GET
@console_view
@permission_required("accounts.view_provideruser", raise_exception=True)
def find(request: HtmxHttpRequest) -> HttpResponse:
    """One search box over people and organizations; htmx swaps only the results."""
    query = request.GET.get("q", "")
    results = selectors.search(query, request.user)
    return page(request, "console/find.html", {"results": results}, partial="results")

"""Admin actions that call services, each behind a confirmation page that asks for a reason."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from accounts.errors import KarmoError, from_provider_error
from accounts.models import ReactivationRequest
from providers.base import Capability
from providers.errors import ProviderError

# Actions run one service call per row in the request; bigger batches belong in a task.
MAX_SELECTED = 100

REQUIRED, OPTIONAL, NONE = "required", "optional", "none"


@dataclass(frozen=True, slots=True)
class ServiceAction:
    """An admin action backed by one service function, called once per selected row."""

    name: str
    label: str
    permission: str
    provider_does: str
    call: Callable[[Any, Model, str], Any]
    reason: str = REQUIRED
    reason_label: str = "Reason"
    # What the provider must support for the action to be offered at all.
    needs: Capability | None = None


@dataclass(frozen=True, slots=True)
class ItemResult:
    """What happened to one selected row."""

    target: Model
    ok: bool
    summary: str
    code: str = ""


class ReasonForm(forms.Form):
    """The confirmation form: the reason (or comment) the service records."""

    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), max_length=2000)

    def __init__(self, *args: Any, spec: ServiceAction, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"].label = spec.reason_label
        self.fields["reason"].required = spec.reason == REQUIRED
        if spec.reason == NONE:
            del self.fields["reason"]


def describe(result: Any) -> str:
    """A short phrase for what a service returned."""
    if isinstance(result, ReactivationRequest):
        return f"request {result.pk} is {result.get_status_display().lower()}"
    changed = getattr(result, "changed", None)
    if changed is not None:
        return "done" if changed else "no change needed"
    return "done"


def _run(
    spec: ServiceAction, request: HttpRequest, rows: list[Model], reason: str
) -> list[ItemResult]:
    results = []
    for row in rows:
        try:
            outcome = spec.call(request.user, row, reason)
        except KarmoError as error:
            results.append(ItemResult(row, False, error.message, error.code.code))
        except ProviderError as exc:
            error = from_provider_error(exc, "")
            results.append(ItemResult(row, False, error.message, error.code.code))
        else:
            results.append(ItemResult(row, True, describe(outcome)))
    return results


def confirm_and_run(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet, spec: ServiceAction
) -> HttpResponse | None:
    """Show the confirmation page; on confirm, call the service per row and list every result."""
    rows = list(queryset[: MAX_SELECTED + 1])
    if len(rows) > MAX_SELECTED:
        modeladmin.message_user(
            request,
            f"Select at most {MAX_SELECTED} rows for this action; narrow the list with filters.",
            level="error",
        )
        return None
    form = ReasonForm(request.POST if request.POST.get("confirm") else None, spec=spec)
    opts = modeladmin.model._meta
    context = {
        **modeladmin.admin_site.each_context(request),
        "opts": opts,
        "title": spec.label,
        "spec": spec,
        "rows": rows,
        "form": form,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    if form.is_bound and form.is_valid():
        results = _run(spec, request, rows, form.cleaned_data.get("reason", ""))
        failed = sum(not r.ok for r in results)
        context |= {
            "results": results,
            "failed": failed,
            "succeeded": len(results) - failed,
            "title": f"{spec.label}: results",
        }
        return TemplateResponse(request, "admin/accounts/action_results.html", context)
    return TemplateResponse(request, "admin/accounts/action_confirmation.html", context)


def make_action(spec: ServiceAction) -> Callable[..., HttpResponse | None]:
    """An admin action function for `spec`, hidden from staff without its permission."""

    def action(
        modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet
    ) -> HttpResponse | None:
        return confirm_and_run(modeladmin, request, queryset, spec)

    action.__name__ = spec.name
    action.needs = spec.needs  # type: ignore[attr-defined]
    return admin.action(description=spec.label, permissions=[spec.permission])(action)


def supported_actions(request: HttpRequest, actions: dict[str, Any]) -> dict[str, Any]:
    """Drop the actions the configured provider cannot carry out, as the console hides them.

    An unconfigured provider keeps every action: running one then says what is missing.
    """
    can = getattr(request, "_karmo_capabilities", None)
    if can is None:
        from providers.registry import provider_status  # the provider layer, lazily

        status = provider_status()
        can = frozenset(status.capabilities) if status.configured else frozenset(Capability)
        request._karmo_capabilities = can  # type: ignore[attr-defined]
    return {
        name: entry
        for name, entry in actions.items()
        if getattr(entry.func, "needs", None) in (None, *can)
    }


def services() -> Any:
    """accounts.services, imported when an action runs (it imports the provider layer)."""
    from accounts import services as module

    return module


def approvals() -> Any:
    """accounts.approvals, imported when an action runs."""
    from accounts import approvals as module

    return module


def request_reactivation_action(noun: str, needs: Capability) -> ServiceAction:
    """Help desk's action: ask a manager to reactivate each selected row."""
    return ServiceAction(
        needs=needs,
        name="request_reactivation",
        label=f"Request reactivation of selected {noun}",
        permission="request_reactivation",
        provider_does="Nothing yet: a manager must approve each request first.",
        call=lambda actor, row, reason: approvals().request_reactivation(
            actor=actor, target=row, reason=reason
        ),
    )

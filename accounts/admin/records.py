"""Admin for sync runs, reactivation requests, the audit log and API tokens."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from accounts import permissions
from accounts.admin.actions import NONE, ServiceAction, approvals, make_action
from accounts.admin.base import CappedCountPaginator, ReadOnlyAdmin
from accounts.errors import KarmoError
from accounts.models import ApiToken, AuditEvent, ReactivationRequest, SyncRun
from accounts.tokens import issue_token, revoke_token


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = (
        "pk",
        "provider",
        "state",
        "phase",
        "seen",
        "created",
        "updated",
        "removed",
        "unchanged",
        "started_by",
        "queued_at",
        "finished_at",
    )
    list_filter = ("state", "provider")
    list_select_related = ("started_by",)
    search_fields = ("task_id__exact",)
    readonly_fields = (*list_display[1:], "started_at", "errors", "task_id")

    def get_urls(self) -> list[URLPattern]:
        start = path(
            "start/", self.admin_site.admin_view(self.start_view), name="accounts_syncrun_start"
        )
        return [start, *super().get_urls()]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "can_start_sync": request.user.has_perm(permissions.START_SYNC),
        }
        return super().changelist_view(request, extra_context)

    def start_view(self, request: HttpRequest) -> HttpResponse:
        """Queue a full sync (POST only), then show its run."""
        from accounts.sync import start_sync

        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        try:
            run = start_sync(actor=request.user)
        except KarmoError as error:
            self.message_user(request, error.message, level="error")
            return HttpResponseRedirect(reverse("admin:accounts_syncrun_changelist"))
        self.message_user(request, f"Sync run {run.pk} is {run.get_state_display().lower()}.")
        return HttpResponseRedirect(reverse("admin:accounts_syncrun_change", args=[run.pk]))


@admin.register(ReactivationRequest)
class ReactivationRequestAdmin(ReadOnlyAdmin):
    list_display = (
        "pk",
        "target_type",
        "target",
        "status",
        "requested_by",
        "created_at",
        "expires_at",
        "decided_by",
    )
    list_filter = ("status", "target_type")
    list_select_related = (
        "requested_by",
        "decided_by",
        "membership__user",
        "membership__organization",
        "provider_user",
        "organization",
    )
    search_fields = (
        "membership__user__email",
        "provider_user__email",
        "organization__name",
        "requested_by__username",
    )
    readonly_fields = (
        "target_type",
        "membership",
        "provider_user",
        "organization",
        "requested_by",
        "reason",
        "status",
        "created_at",
        "expires_at",
        "decided_by",
        "decided_at",
        "decision_comment",
        "executed_at",
        "error_code",
        "error_message",
        "correlation_id",
    )
    actions = [
        make_action(
            ServiceAction(
                name="approve_requests",
                label="Approve selected requests",
                permission="approve",
                provider_does="Carry out each reactivation once approved.",
                call=lambda actor, row, reason: approvals().approve_request(
                    actor=actor, request=row
                ),
                reason=NONE,
            )
        ),
        make_action(
            ServiceAction(
                name="reject_requests",
                label="Reject selected requests",
                permission="approve",
                provider_does="Nothing: the requester is told the comment.",
                call=lambda actor, row, comment: approvals().reject_request(
                    actor=actor, request=row, comment=comment
                ),
                reason_label="Comment for the requester",
            )
        ),
    ]

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(permissions.APPROVE_REQUESTS)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        """Managers and auditors see every request; help desk only its own, as in the console."""
        requests = super().get_queryset(request)
        user = request.user
        if user.has_perm(permissions.APPROVE_REQUESTS) or user.has_perm(permissions.VIEW_AUDIT):
            return requests
        return requests.filter(requested_by=user)

    @admin.display(description="target")
    def target(self, obj: ReactivationRequest) -> str:
        if obj.membership is not None:
            return f"{obj.membership.user.email} in {obj.membership.organization.name}"
        return str(obj.provider_user or obj.organization)


class EventGroupFilter(admin.SimpleListFilter):
    """Event types grouped by the noun before the dot, without scanning the table."""

    title = "event group"
    parameter_name = "group"
    GROUPS = ("membership", "user", "organization", "role", "request", "sync", "api_token")

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(group, group.replace("_", " ")) for group in self.GROUPS]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in self.GROUPS:
            return queryset.filter(event_type__startswith=f"{self.value()}.")
        return queryset


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """The audit log: readable with the view permission, changeable by nobody."""

    list_display = (
        "sequence",
        "occurred_at",
        "event_type",
        "outcome",
        "actor_repr",
        "via",
        "target_type",
        "target_repr",
        "error_code",
    )
    list_filter = ("outcome", "via", EventGroupFilter)
    search_fields = (
        "event_type__exact",
        "target_id__exact",
        "organization_external_id__exact",
        "user_external_id__exact",
        "correlation_id__exact",
        "actor_repr__exact",
    )
    paginator = CappedCountPaginator
    actions = None
    fields = readonly_fields = (
        "sequence",
        "occurred_at",
        "event_type",
        "outcome",
        "actor_repr",
        "token_id",
        "via",
        "target_type",
        "target_id",
        "target_repr",
        "organization_external_id",
        "user_external_id",
        "reason",
        "error_code",
        "provider_request_id",
        "before_json",
        "after_json",
        "data_json",
        "client_ip",
        "user_agent",
        "request_id",
        "correlation_id",
        "prev_hash",
        "hash",
    )

    @admin.display(description="before")
    def before_json(self, obj: AuditEvent) -> str:
        return _pretty(obj.before)

    @admin.display(description="after")
    def after_json(self, obj: AuditEvent) -> str:
        return _pretty(obj.after)

    @admin.display(description="data")
    def data_json(self, obj: AuditEvent) -> str:
        return _pretty(obj.data)


def _pretty(value: Any) -> str:
    if value in (None, {}, []):
        return "—"
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True))


class ApiTokenCreationForm(forms.ModelForm):
    """Who the token acts as, what it is called and when it expires; the secret is generated."""

    class Meta:
        model = ApiToken
        fields = ("user", "name", "expires_at")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = get_user_model().objects.filter(
            is_staff=True, is_active=True
        )

    def clean_expires_at(self) -> Any:
        expires_at = self.cleaned_data.get("expires_at")
        if expires_at is not None and expires_at <= timezone.now():
            raise forms.ValidationError("Choose a moment in the future, or leave it empty.")
        return expires_at


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are shown once on creation, then only their prefix; revoked, never deleted."""

    list_display = (
        "name",
        "user",
        "prefix",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    )
    list_filter = ("revoked_at",)
    list_select_related = ("user",)
    search_fields = ("name", "prefix__exact", "user__username")
    readonly_fields = (
        "user",
        "name",
        "prefix",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    )
    actions = ["revoke_tokens"]

    def get_form(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = ApiTokenCreationForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.readonly_fields if obj is not None else ()

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.readonly_fields if obj is not None else ApiTokenCreationForm.Meta.fields

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("accounts.change_apitoken")

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        token, raw = issue_token(obj.user, obj.name, obj.expires_at, actor=request.user)
        obj.pk, obj.prefix, obj.token_hash, obj.created_at = (
            token.pk,
            token.prefix,
            token.token_hash,
            token.created_at,
        )
        obj._state.adding = False
        request._issued_token = raw  # type: ignore[attr-defined]

    def response_add(
        self, request: HttpRequest, obj: ApiToken, post_url_continue: Any = None
    ) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "API token created",
            "token": obj,
            "raw_token": getattr(request, "_issued_token", ""),
        }
        response = TemplateResponse(request, "admin/accounts/apitoken/token_created.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke selected tokens", permissions=["revoke"])
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet) -> None:
        revoked = sum(
            revoke_token(token, actor=request.user) for token in queryset.select_related("user")
        )
        self.message_user(request, f"Revoked {revoked} token(s).")

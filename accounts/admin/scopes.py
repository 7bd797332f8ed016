"""Superusers give staff users and groups their organizations; every change is audited."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import transaction
from django.db.models import Model
from django.forms import ModelForm
from django.http import HttpRequest

from accounts.audit import record_event
from accounts.models import Outcome, StaffScope
from accounts.scopes import scope_state


@admin.register(StaffScope)
class StaffScopeAdmin(admin.ModelAdmin):
    """One row per user or group; organizations are picked from the mirror or matched by rule."""

    list_display = ("__str__", "all_organizations", "name_pattern", "id_pattern", "updated_at")
    list_select_related = ("user", "group")
    autocomplete_fields = ("user", "group")
    filter_horizontal = ("organizations",)
    fields = ("user", "group", "all_organizations", "organizations", "name_pattern", "id_pattern")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.has_module_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.has_module_permission(request)

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm, change: bool) -> None:
        # Kept until save_related, when the organizations are saved too.
        obj._karmo_before = (
            scope_state(StaffScope.objects.get(pk=obj.pk)) if change and obj.pk else None
        )
        super().save_model(request, obj, form, change)

    def save_related(
        self, request: HttpRequest, form: ModelForm, formsets: Any, change: bool
    ) -> None:
        with transaction.atomic():
            super().save_related(request, form, formsets, change)
            scope = form.instance
            record_event(
                event_type="scope.changed" if change else "scope.created",
                outcome=Outcome.SUCCEEDED,
                actor=request.user,
                target=scope,
                before=getattr(scope, "_karmo_before", None),
                after=scope_state(scope),
            )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        with transaction.atomic():
            before = scope_state(obj)
            record_event(
                event_type="scope.deleted",
                outcome=Outcome.SUCCEEDED,
                actor=request.user,
                target=obj,
                before=before,
            )
            super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for scope in queryset:
            self.delete_model(request, scope)

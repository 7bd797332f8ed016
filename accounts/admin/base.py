"""Shared admin pieces: a paginator without full-table COUNT, and read-only mirror admins."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property

from accounts import scopes


class CappedCountPaginator(Paginator):
    """Counts at most `cap` rows (a bounded subquery), so big tables never pay a full COUNT(*).

    On PostgreSQL an unfiltered listing past the cap shows the planner's row estimate.
    """

    cap = 10_000

    @cached_property
    def count(self) -> int:  # type: ignore[override]
        queryset = self.object_list
        if not hasattr(queryset, "query"):
            return len(queryset)
        counted = queryset.order_by()[: self.cap + 1].count()
        if counted <= self.cap:
            return counted
        return self._estimate(queryset) or self.cap

    @cached_property
    def capped(self) -> bool:
        """Whether `count` is a lower bound rather than the exact number."""
        return self.count >= self.cap

    def _estimate(self, queryset: Any) -> int:
        if connection.vendor != "postgresql" or queryset.query.where:
            return 0
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                [queryset.model._meta.db_table],
            )
            row = cursor.fetchone()
        return max(int(row[0]), self.cap) if row and row[0] and row[0] > self.cap else 0


class ReadOnlyAdmin(admin.ModelAdmin):
    """Nobody adds, edits or deletes here; actions may still call services."""

    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 50

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        """Only rows inside the staff member's scope: lists, counts and bulk actions alike."""
        rows = super().get_queryset(request)
        return scopes.scoped(request.user, rows) if scopes.is_scoped(self.model) else rows

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class MirrorAdmin(ReadOnlyAdmin):
    """A mirrored model: the provider is the source of truth, so every field is read-only."""

    list_filter: Any = ("status", "provider")
    readonly_fields: Any = ("provider", "external_id", "synced_at", "removed_at", "created_at")

    @admin.display(description="present", boolean=True, ordering="removed_at")
    def present(self, obj: Any) -> bool:
        return obj.removed_at is None

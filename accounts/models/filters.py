"""Named filters a staff member saved for the audit log or Find."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class SavedFilter(models.Model):
    """One staff member's named query string for one console page; only they see it."""

    class Page(models.TextChoices):
        AUDIT = "audit", "Audit log"
        FIND = "find", "Find"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_filters"
    )
    page = models.CharField(max_length=10, choices=Page.choices)
    name = models.CharField(max_length=80)
    query = models.CharField(max_length=2000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("page", "name")
        constraints = [
            models.UniqueConstraint(
                fields=("user", "page", "name"), name="saved_filter_unique_name"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_page_display()}: {self.name}"

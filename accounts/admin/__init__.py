"""The Django admin: read-only mirror listings with service-backed actions, and records."""

from __future__ import annotations

from django.contrib import admin

from accounts.admin import mirror, records

admin.site.site_header = "Karmo Admin"
admin.site.site_title = "Karmo Admin"
admin.site.index_title = "Back office"

__all__ = ["mirror", "records"]

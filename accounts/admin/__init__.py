"""The Django admin: read-only mirror listings with service-backed actions, and records."""

from __future__ import annotations

from django.contrib import admin

from accounts.admin import mirror, records, scopes
from accounts.views.signin import admin_sign_in

admin.site.site_header = "Karmo Admin"
admin.site.site_title = "Karmo Admin"
admin.site.index_title = "Back office"
# One sign-in page for everyone: its lockout and second factor cover the admin too.
admin.site.login = admin_sign_in  # type: ignore[method-assign]

__all__ = ["mirror", "records", "scopes"]

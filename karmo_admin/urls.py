"""URL configuration: console, admin and the JSON API."""

from __future__ import annotations

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.views.generic import RedirectView

from accounts.staff import passkeys
from accounts.theme import set_theme
from accounts.views import security, sign_out, signin
from accounts.views.webhooks import webhook

urlpatterns = [
    # Browsers ask for /favicon.ico on pages that name no icon (the admin's, the API's JSON).
    # Lazy: the hashed name exists only once static files are collected, not at import.
    path("favicon.ico", RedirectView.as_view(url=lazy(static, str)("favicon.svg"), permanent=True)),
    path("admin/", admin.site.urls),
    path("login/", signin.sign_in, name="login"),
    path("login/verify/", signin.verify, name="login-verify"),
    path("reauth/", signin.reauth, name="reauth"),
    path("security/", security.security, name="security"),
    path("security/app/", security.totp_start, name="security-totp"),
    path("security/app/confirm/", security.totp_confirm, name="security-totp-confirm"),
    path("security/recovery-codes/", security.recovery_codes, name="security-recovery"),
    path("security/<str:kind>/<int:pk>/remove/", security.remove_factor, name="security-remove"),
    path("webauthn/", include(passkeys)),
    path("logout/", sign_out, name="logout"),
    path("theme/", set_theme, name="theme"),
    path("api/", include("accounts.api.urls")),
    path("webhooks/<slug:provider>/", webhook, name="webhook"),
    path("", include("accounts.urls")),
]

# Django's own 400 and 500 answers are the API's error envelope under /api/.
handler400 = "accounts.api.errors.bad_request"
handler500 = "accounts.api.errors.server_error"

"""URLs under /api/: version 1, and an enveloped 404 for anything else."""

from __future__ import annotations

from django.urls import include, path, re_path

from accounts.api.app import api
from accounts.api.errors import enveloped_patterns, not_found

_patterns, _app_name, _namespace = api.urls

urlpatterns = [
    path("v1/", include((enveloped_patterns(_patterns), _app_name), namespace=_namespace)),
    re_path(r"^(?P<path>.*)$", not_found),
]

"""URLs under /api/: version 1, and an enveloped 404 for anything else."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path, re_path

from accounts.api.app import api
from accounts.api.errors import enveloped, not_found


def _enveloped(patterns: list[URLPattern | URLResolver]) -> list[URLPattern | URLResolver]:
    return [
        URLPattern(p.pattern, enveloped(p.callback), p.default_args, p.name)
        if isinstance(p, URLPattern)
        else p
        for p in patterns
    ]


_patterns, _app_name, _namespace = api.urls

urlpatterns = [
    path("v1/", include((_enveloped(_patterns), _app_name), namespace=_namespace)),
    re_path(r"^(?P<path>.*)$", not_found),
]

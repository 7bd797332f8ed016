"""The Karmo JSON API under /api/v1/ (django-ninja)."""

from __future__ import annotations

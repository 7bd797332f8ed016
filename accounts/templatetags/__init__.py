"""Template tags for the console."""

from __future__ import annotations

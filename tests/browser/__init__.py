"""Browser tests: Playwright driving Debian's chromium against the live app."""

from __future__ import annotations

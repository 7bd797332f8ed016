"""An emulator of the Stytch B2B admin API (organizations, members, RBAC policies)."""

from __future__ import annotations

from providers.emulators.stytch.app import StytchEmulator
from providers.emulators.stytch.documents import PROJECT_ID, SECRET

__all__ = ["PROJECT_ID", "SECRET", "StytchEmulator"]

"""A ZITADEL emulator: v2 user/org REST and Connect paths, v1 management, v3alpha users,
v2 authorizations and project roles/grants (Connect only), offset paging, gRPC error bodies."""

from __future__ import annotations

from providers.emulators.zitadel.app import ZitadelEmulator
from providers.emulators.zitadel.wire import DEFAULT_TOKEN, PROJECT_ID

__all__ = ["DEFAULT_TOKEN", "PROJECT_ID", "ZitadelEmulator"]

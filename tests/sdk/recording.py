"""Emulators that remember the JSON they answered, so tests can check it byte for byte."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


class Recording:
    """Mixed in before an emulator class: keeps the last answer's status and decoded body."""

    last_status: int = 0
    last_body: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        def remember(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            self.last_status = int(status.split()[0])
            return start_response(status, headers, *args)

        chunks = super().__call__(environ, remember)  # type: ignore[misc]
        payload = b"".join(chunks)
        self.last_body = json.loads(payload) if payload else None
        return [payload]

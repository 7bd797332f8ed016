"""Webhook deliveries from an emulator, as the providers send them when their state changes.

Events are queued as they are recorded and posted by one background thread, signed the
provider's way; each answer's status is kept so tests can see what the receiver said.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

Signer = Callable[[str, bytes, dict[str, Any]], dict[str, str]]


def workos_headers(secret: str, body: bytes, event: dict[str, Any]) -> dict[str, str]:
    """`WorkOS-Signature: t=<ms>, v1=<hex HMAC-SHA256 of "t.body">`."""
    stamp = time.time_ns() // 1_000_000
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"WorkOS-Signature": f"t={stamp}, v1={digest}"}


def svix_headers(secret: str, body: bytes, event: dict[str, Any]) -> dict[str, str]:
    """Svix's three headers; the key is the base64 part of `whsec_…`."""
    delivery_id, stamp = f"msg_{event['event_id']}", int(time.time())
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{delivery_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "svix-id": delivery_id,
        "svix-timestamp": str(stamp),
        "svix-signature": "v1," + base64.b64encode(digest).decode(),
    }


def zitadel_headers(secret: str, body: bytes, event: dict[str, Any]) -> dict[str, str]:
    """Actions v2: `ZITADEL-Signature: t=<unix s>,v1=<hex HMAC-SHA256 of "t.body">`."""
    stamp = int(time.time())
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"ZITADEL-Signature": f"t={stamp},v1={digest}"}


class WebhookSender:
    """Posts events to one URL in the order they were recorded."""

    def __init__(self, sign: Signer) -> None:
        self.sign = sign
        self.url = ""
        self.secret = ""
        self.answers: list[int] = []
        self.delay = 0.0
        self._queue: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def configure(self, url: str, secret: str, delay: float = 0.0) -> None:
        """Send to `url` signed with `secret`, each `delay` seconds after its change (real
        providers deliver late at times); an empty url stops sending."""
        with self._lock:
            self.url, self.secret, self.delay = url, secret, delay
            self.answers = []
            if url and self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="emulator-webhooks", daemon=True
                )
                self._thread.start()

    def send(self, event: dict[str, Any]) -> None:
        """Queue an event when a URL is configured."""
        if self.url:
            self._queue.put((time.monotonic() + self.delay, event))

    def drain(self, timeout: float = 5.0) -> None:
        """Wait until every queued event was posted (for tests and benchmarks)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)

    def _run(self) -> None:
        with httpx.Client(timeout=10.0) as client:
            while True:
                due, event = self._queue.get()
                try:
                    if self.url:
                        time.sleep(max(0.0, due - time.monotonic()))
                        self._post(client, event)
                finally:
                    self._queue.task_done()

    def _post(self, client: httpx.Client, event: dict[str, Any]) -> None:
        body = json.dumps(event).encode()
        headers = {"Content-Type": "application/json", **self.sign(self.secret, body, event)}
        try:
            status = client.post(self.url, content=body, headers=headers).status_code
        except httpx.HTTPError:
            status = 0
        self.answers.append(status)

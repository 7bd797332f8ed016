"""Webhook signature schemes: WorkOS's `WorkOS-Signature`, Svix's (Stytch) and ZITADEL's
`ZITADEL-Signature` (Actions v2 targets).

All are HMAC-SHA256 over the timestamp and the raw body, so a captured delivery cannot be
re-dated; the timestamp must be within the tolerance, and the caller refuses a delivery id it
has already received.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass

from accounts.errors import ErrorCode, KarmoError


@dataclass(frozen=True, slots=True)
class Signed:
    """What a valid signature vouches for: the delivery's id (when the scheme has one)."""

    delivery_id: str


def _fresh(timestamp: float, tolerance: float, now: float) -> None:
    if abs(now - timestamp) > tolerance:
        raise KarmoError(
            ErrorCode.WEBHOOK_STALE,
            f"The webhook was signed {int(now - timestamp)} s ago; at most {int(tolerance)} s.",
        )


def _bad(detail: str) -> KarmoError:
    return KarmoError(
        ErrorCode.WEBHOOK_BAD_SIGNATURE, f"{ErrorCode.WEBHOOK_BAD_SIGNATURE.message} ({detail})"
    )


def _matches(expected: str, given: list[str]) -> bool:
    """Whether any given signature is the expected one, in constant time. Compared as bytes:
    compare_digest refuses str with non-ASCII characters, which anyone can put in a header."""
    return any(hmac.compare_digest(expected.encode(), candidate.encode()) for candidate in given)


def workos_signature(secret: str, body: bytes, timestamp_ms: int) -> str:
    """The `WorkOS-Signature` header value for a body (used by the emulator and tests)."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}.".encode() + body, hashlib.sha256)
    return f"t={timestamp_ms}, v1={digest.hexdigest()}"


def verify_workos(
    headers: Mapping[str, str], body: bytes, secret: str, tolerance: float, now: float | None = None
) -> Signed:
    """Check `WorkOS-Signature: t=<ms>, v1=<hex HMAC-SHA256 of "t.body">`."""
    header = headers.get("WorkOS-Signature", "")
    parts = dict(item.strip().split("=", 1) for item in header.split(",") if "=" in item.strip())
    try:
        timestamp_ms = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        raise _bad("no t= and v1= in WorkOS-Signature") from None
    expected = workos_signature(secret, body, timestamp_ms).rpartition("v1=")[2]
    if not _matches(expected, [given]):
        raise _bad("WorkOS-Signature")
    _fresh(timestamp_ms / 1000, tolerance, time.time() if now is None else now)
    return Signed(delivery_id="")


def zitadel_signature(secret: str, body: bytes, timestamp: int) -> str:
    """The `ZITADEL-Signature` header value for a body (used by the emulator and tests)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify_zitadel(
    headers: Mapping[str, str], body: bytes, secret: str, tolerance: float, now: float | None = None
) -> Signed:
    """Check `ZITADEL-Signature: t=<unix s>,v1=<hex HMAC-SHA256 of "t.body">` (any v1 matches,
    as ZITADEL lists one per signing key while a key is being rotated)."""
    pairs = [
        item.strip().partition("=") for item in headers.get("ZITADEL-Signature", "").split(",")
    ]
    given = [value for name, _, value in pairs if name == "v1" and value]
    try:
        timestamp = int(next(value for name, _, value in pairs if name == "t"))
    except (StopIteration, ValueError):
        raise _bad("no t= in ZITADEL-Signature") from None
    expected = zitadel_signature(secret, body, timestamp).rpartition("v1=")[2]
    if not _matches(expected, given):
        raise _bad("ZITADEL-Signature")
    _fresh(timestamp, tolerance, time.time() if now is None else now)
    return Signed(delivery_id="")


def svix_key(secret: str) -> bytes:
    """The HMAC key of a Svix secret (`whsec_` + base64)."""
    try:
        return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        return secret.encode()


def svix_signature(secret: str, delivery_id: str, timestamp: int, body: bytes) -> str:
    """The `svix-signature` header value (used by the emulator and tests)."""
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    digest = hmac.new(svix_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify_svix(
    headers: Mapping[str, str], body: bytes, secret: str, tolerance: float, now: float | None = None
) -> Signed:
    """Check Svix's `svix-id`, `svix-timestamp` and `svix-signature` (any listed v1 matches)."""
    delivery_id = headers.get("svix-id", "")
    try:
        timestamp = int(headers.get("svix-timestamp", ""))
    except ValueError:
        raise _bad("no svix-timestamp") from None
    if not delivery_id:
        raise _bad("no svix-id")
    expected = svix_signature(secret, delivery_id, timestamp, body).partition(",")[2]
    given = [
        part.partition(",")[2]
        for part in headers.get("svix-signature", "").split()
        if part.startswith("v1,")
    ]
    if not _matches(expected, given):
        raise _bad("svix-signature")
    _fresh(timestamp, tolerance, time.time() if now is None else now)
    return Signed(delivery_id=delivery_id)

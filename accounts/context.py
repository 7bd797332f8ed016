"""Who is acting and through what, carried per request or task without passing it by hand."""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from accounts.models.audit import Channel


@dataclass(frozen=True, slots=True)
class AuditContext:
    """Request-level facts every audit event carries."""

    via: str = Channel.COMMAND
    client_ip: str | None = None
    user_agent: str = ""
    request_id: str = ""
    token_id: int | None = None


_current: contextvars.ContextVar[AuditContext | None] = contextvars.ContextVar(
    "karmo_audit_context", default=None
)


def current_context() -> AuditContext:
    """The context of the running request, task or command."""
    return _current.get() or AuditContext()


@contextmanager
def audit_context(**changes: Any) -> Iterator[AuditContext]:
    """Run a block with the current context updated by `changes`."""
    context = replace(current_context(), **changes)
    if not context.request_id:
        context = replace(context, request_id=uuid.uuid4().hex)
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)

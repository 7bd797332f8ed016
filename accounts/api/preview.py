"""Dry runs: `?dryRun=true` or `Prefer: dry-run` answer what a change would do, doing nothing."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from ninja import Query

from accounts.api.schemas import ApiSchema
from accounts.errors import ErrorCode, KarmoError
from accounts.services.flow import Change

DryRun = Annotated[
    bool,
    Query(
        alias="dryRun",
        description="Preview the change: nothing is sent to the provider or written, and the "
        "answer is a Preview. The header `Prefer: dry-run` does the same.",
    ),
]


class PreviewOut(ApiSchema):
    """What a change would do: the target before and after, and the provider call it needs."""

    dry_run: Literal[True] = True
    event_type: str
    before: Any
    after: Any
    provider_call: str = ""
    supported: bool
    approval_needed: bool
    blast_radius: dict[str, Any] | None = None

    @classmethod
    def of(cls, change: Change[Any]) -> PreviewOut:
        """From a service's dry run."""
        preview = change.preview
        if preview is None:
            raise KarmoError(ErrorCode.INTERNAL_ERROR)
        return cls(**dataclasses.asdict(preview))


def wanted(request: HttpRequest, flag: bool) -> bool:
    """Whether the caller asked for a dry run, by query parameter or Prefer header."""
    prefer = request.headers.get("Prefer", "")
    return flag or "dry-run" in {p.strip().lower() for p in prefer.split(",")}


def change_or_preview[T, R](
    request: HttpRequest,
    dry_run: bool,
    change: Callable[[bool], Change[T]],
    answer: Callable[[Change[T]], R],
) -> R | PreviewOut:
    """Make the change (`change(preview)`), or only its dry run when asked for one: then the
    answer is the Preview, otherwise `answer(change)`."""
    preview = wanted(request, dry_run)
    made = change(preview)
    return PreviewOut.of(made) if preview else answer(made)

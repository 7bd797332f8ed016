"""Request parsing: JSON bodies only, and no text a database cannot store."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest
from django.utils.datastructures import MultiValueDict
from ninja.parser import Parser

from accounts.api.errors import json_pointer
from accounts.errors import ErrorCode, FieldError, KarmoError


def storable(text: str) -> bool:
    """False for NUL characters and lone surrogates, which PostgreSQL and SQLite refuse."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _unstorable_pointer(value: Any, path: tuple[Any, ...] = ()) -> str | None:
    if isinstance(value, str):
        return None if storable(value) else json_pointer(path)
    items: Any = ()
    if isinstance(value, dict):
        for key in value:
            if not storable(key):
                return json_pointer((*path, key))
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    for key, item in items:
        if (pointer := _unstorable_pointer(item, (*path, key))) is not None:
            return pointer
    return None


def refuse_unstorable(value: Any) -> None:
    """Raise a 422 naming the first string that contains NUL or a lone surrogate."""
    pointer = _unstorable_pointer(value)
    if pointer is not None:
        raise KarmoError(
            ErrorCode.VALIDATION_FAILED,
            errors=[FieldError("must not contain NUL characters or lone surrogates", pointer)],
        )


class JSONParser(Parser):
    """Parses application/json bodies; anything else is refused with a catalogue code."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        """The decoded body (ninja turns any exception here into a 400 carrying it)."""
        if request.content_type != "application/json" and not (
            request.content_type.startswith("application/")
            and request.content_type.endswith("+json")
        ):
            raise KarmoError(ErrorCode.UNSUPPORTED_MEDIA_TYPE)
        try:
            data = json.loads(request.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise KarmoError(ErrorCode.MALFORMED_JSON) from exc
        refuse_unstorable(data)
        return data

    def parse_querydict(
        self, data: MultiValueDict, list_fields: list[str], request: HttpRequest
    ) -> dict[str, Any]:
        """Query parameters, refusing unstorable text."""
        parsed = super().parse_querydict(data, list_fields, request)
        refuse_unstorable(parsed)
        return parsed

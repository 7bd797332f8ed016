"""Request parsing: JSON bodies only, and no text a database cannot store."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponseBase
from django.utils.datastructures import MultiValueDict
from ninja.parser import Parser

from accounts.api.errors import error_response, json_pointer
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
        """Query parameters, refusing unstorable text and repeats of single-valued ones."""
        repeated = [
            FieldError("must be given once", json_pointer([key]))
            for key in data
            if key not in list_fields and len(data.getlist(key)) > 1
        ]
        if repeated:
            raise KarmoError(ErrorCode.VALIDATION_FAILED, errors=repeated)
        parsed = super().parse_querydict(data, list_fields, request)
        refuse_unstorable(parsed)
        return parsed


def query_names(operation: Any) -> frozenset[str]:
    """The query parameter names an operation declares."""
    return frozenset(
        name
        for model in operation.models
        if model.__ninja_param_source__ == "query"
        for name in model.__ninja_flatten_map__
    )


def refuse_unstorable_path(
    run: Callable[..., HttpResponseBase],
) -> Callable[..., HttpResponseBase]:
    """View decorator: a path id with NUL or a lone surrogate is a 422 naming it, before any
    lookup (PostgreSQL would fail the query; no stored id can contain one)."""

    @wraps(run)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        errors = [
            FieldError("must not contain NUL characters or lone surrogates", json_pointer([name]))
            for name, value in kwargs.items()
            if isinstance(value, str) and not storable(value)
        ]
        if errors:
            return error_response(KarmoError(ErrorCode.VALIDATION_FAILED, errors=errors))
        return run(request, *args, **kwargs)

    return wrapper


def refuse_unknown_query(run: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """View decorator: a query parameter the operation does not declare is a 422, not ignored
    (a mistyped filter would otherwise return everything)."""
    # ninja hands "view" decorators the operation's bound run method (perhaps already wrapped).
    known = query_names(inspect.unwrap(run).__self__)  # type: ignore[attr-defined]

    @wraps(run)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        unknown = sorted(set(request.GET) - known)
        if unknown:
            errors = [
                FieldError("is not a parameter of this operation", json_pointer([n]))
                for n in unknown
            ]
            return error_response(KarmoError(ErrorCode.VALIDATION_FAILED, errors=errors))
        return run(request, *args, **kwargs)

    return wrapper

"""Keyset pagination with opaque cursors: stable under inserts, no OFFSET scans."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from django.db.models import Model, Q, QuerySet
from ninja import Query, Schema
from pydantic import Field

from accounts.api.parser import storable
from accounts.errors import ErrorCode, FieldError, KarmoError

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class PageParams(Schema):
    """`limit` and `cursor` query parameters shared by every list."""

    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Items per page.")
    cursor: str | None = Field(
        None, max_length=512, description="nextCursor from the previous page."
    )


PageQuery = Annotated[PageParams, Query()]


@dataclass(frozen=True, slots=True)
class Page[M: Model]:
    """One page of rows and the cursor for the next one."""

    items: list[M]
    next_cursor: str | None


def encode_cursor(kind: str, values: list[Any]) -> str:
    """An opaque cursor for position `values` in list `kind`."""
    raw = json.dumps([kind, values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str, size: int) -> list[Any]:
    """The position a cursor names; refuses cursors of other lists or other shapes."""
    invalid = KarmoError(
        ErrorCode.INVALID_CURSOR, errors=[FieldError("is not a cursor of this list", "/cursor")]
    )
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        found_kind, values = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, TypeError, binascii.Error, UnicodeError) as exc:
        raise invalid from exc
    # The last value is a unique integer (pk, sequence), any before it a string sort key.
    valid = (
        found_kind == kind
        and isinstance(values, list)
        and len(values) == size
        and type(values[-1]) is int
        and 0 <= values[-1] < 2**63
        and all(isinstance(v, str) and len(v) <= 512 and storable(v) for v in values[:-1])
    )
    if not valid:
        raise invalid
    return values


def paginate[M: Model](
    queryset: QuerySet[M],
    *,
    kind: str,
    order: tuple[str, ...],
    params: PageParams,
    descending: bool = False,
) -> Page[M]:
    """Rows after the cursor's position in `order`: optional string keys, then a unique int."""
    fields = list(order)
    prefix = "-" if descending else ""
    queryset = queryset.order_by(*(prefix + f for f in fields))
    if params.cursor:
        values = decode_cursor(kind, params.cursor, len(fields))
        op = "lt" if descending else "gt"
        after = Q()
        for i, field in enumerate(fields):
            equal = dict(zip(fields[:i], values[:i], strict=True))
            after |= Q(**equal, **{f"{field}__{op}": values[i]})
        queryset = queryset.filter(after)
    rows = list(queryset[: params.limit + 1])
    if len(rows) <= params.limit:
        return Page(rows, None)
    rows = rows[: params.limit]
    last = rows[-1]
    position = [_value(last, f) for f in fields]
    return Page(rows, encode_cursor(kind, position))


def where_given[M: Model](queryset: QuerySet[M], **conditions: Any) -> QuerySet[M]:
    """The queryset filtered by the conditions given a value; empty filters are left out."""
    return queryset.filter(**{lookup: value for lookup, value in conditions.items() if value})


def page_out[M: Model, S: Schema](schema: type[S], found: Page[M], out: Callable[[M], Any]) -> S:
    """A list response: each row of the page as `out` renders it, and the next cursor."""
    return schema(data=[out(row) for row in found.items], next_cursor=found.next_cursor)


def _value(row: Model, field: str) -> Any:
    value: Any = row
    for part in field.split("__"):
        value = getattr(value, part)
    return value

"""Stytch's search bodies: `query` operands as Store matches, and `cursor`/`limit` paging.

A cursor is the base64 of `c:<seq>`, the sequence of the page's last document, so every
page is one indexed range read however deep the listing goes.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from providers.emulators.state import Either, Match
from providers.emulators.stytch.documents import bad

Doc = dict[str, Any]
Condition = Match | Either
STATUSES = ("pending", "invited", "active", "deleted")
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
ORGANIZATION_FIELDS = {
    "organization_ids": ("organization_id", False),
    "organization_slugs": ("organization_slug", False),
    "allowed_domains": ("email_allowed_domains", False),
    "organization_name_fuzzy": ("organization_name", True),
    "organization_slug_fuzzy": ("organization_slug", True),
    "allowed_domain_fuzzy": ("email_allowed_domains", True),
}
MEMBER_FIELDS = {
    "member_ids": ("member_id", False),
    "member_emails": ("email_address", False),
    "member_email_fuzzy": ("email_address", True),
}


def conditions(body: Doc, prefix: str) -> list[Condition]:
    """Store matches for a search body's `query` ({operator, operands}); prefix names the search."""
    query = body.get("query") or {}
    if not isinstance(query, dict):
        raise bad("bad_request", "query must be an object.")
    operator = str(query.get("operator") or "AND").upper()
    if operator not in {"AND", "OR"}:
        raise bad("bad_request", "query.operator must be AND or OR.")
    operands = query.get("operands") or []
    if not isinstance(operands, list):
        raise bad("bad_request", "query.operands must be a list.")
    tests: list[Match | None] = []
    for operand in operands:
        name = operand.get("filter_name") if isinstance(operand, dict) else None
        if not isinstance(name, str):
            raise bad(f"{prefix}_filter_name_must_be_string", "filter_name is required.")
        if operand.get("filter_value") in (None, "", []):
            raise bad(f"{prefix}_missing_filter_value", f"{name} needs a filter_value.")
        tests.append(_operand(prefix, name, operand["filter_value"]))
    if operator == "OR" and tests:
        # An operand that holds for every document makes the whole OR hold.
        return [] if None in tests else [Either([t for t in tests if t is not None])]
    return [t for t in tests if t is not None]


def asks_for_statuses(body: Doc) -> bool:
    """Whether the query filters on statuses (otherwise deleted members stay hidden)."""
    query = body.get("query") if isinstance(body.get("query"), dict) else {}
    operands = query.get("operands") if isinstance(query.get("operands"), list) else []
    return any(isinstance(op, dict) and op.get("filter_name") == "statuses" for op in operands)


def paging(body: Doc) -> tuple[int, int]:
    """The body's page size and the sequence its cursor continues after (0 for the first page)."""
    limit = body.get("limit") or DEFAULT_LIMIT
    if not isinstance(limit, int) or isinstance(limit, bool) or not 0 < limit <= MAX_LIMIT:
        raise bad("bad_request", f"limit must be between 1 and {MAX_LIMIT}.")
    after = 0
    if body.get("cursor"):
        try:
            after = int(base64.urlsafe_b64decode(str(body["cursor"])).decode().split(":")[1])
        except (binascii.Error, ValueError, IndexError, UnicodeDecodeError) as exc:
            raise bad("bad_request", "The cursor is not valid.") from exc
    return limit, after


def cut[Row: tuple[Any, ...]](rows: list[Row], limit: int) -> tuple[list[Row], str | None]:
    """A page from up to limit + 1 rows (seq first), and the cursor to the next page or None."""
    chunk = rows[:limit]
    if len(rows) <= limit:
        return chunk, None
    return chunk, base64.urlsafe_b64encode(f"c:{chunk[-1][0]}".encode()).decode()


def _operand(prefix: str, name: str, value: Any) -> Match | None:
    """The operand's match, or None when it holds for every document."""
    if prefix == "member_search" and name == "statuses":
        if not isinstance(value, list) or not all(v in STATUSES for v in value):
            raise bad("search_invalid_status_filter", f"statuses must be among {STATUSES}.")
        return None if set(value) == set(STATUSES) else Match("status", value)
    if prefix == "member_search" and name == "member_roles":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad(f"{prefix}_expected_array_of_strings", "member_roles must be strings.")
        return Match("roles", value, item_key="role_id")
    fields = MEMBER_FIELDS if prefix == "member_search" else ORGANIZATION_FIELDS
    if name not in fields:
        raise bad(f"{prefix}_filter_name_not_recognized", f"Unknown filter {name!r}.")
    field, fuzzy = fields[name]
    if fuzzy:
        if not isinstance(value, str):
            raise bad(f"{prefix}_expected_string", f"{name} expects a string.")
        if len(value) < 3:
            raise bad(f"{prefix}_{name}_too_short", "Fuzzy filters need at least 3 characters.")
        return Match(field, contains=value, ignore_case=True)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad(f"{prefix}_expected_array_of_strings", f"{name} expects a list of strings.")
    return Match(field, value, ignore_case=True)

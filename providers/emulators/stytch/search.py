"""Stytch's search bodies: `query` operands and `cursor`/`limit` paging."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

from providers.emulators.stytch.documents import bad

Doc = dict[str, Any]
Predicate = Callable[[Doc], bool]
Rows = list[tuple[int, Doc]]
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


def query_predicate(body: Doc, prefix: str) -> Predicate:
    """A predicate for a search body's `query` ({operator, operands}); prefix names the search."""
    query = body.get("query") or {}
    if not isinstance(query, dict):
        raise bad("bad_request", "query must be an object.")
    operator = str(query.get("operator") or "AND").upper()
    if operator not in {"AND", "OR"}:
        raise bad("bad_request", "query.operator must be AND or OR.")
    operands = query.get("operands") or []
    if not isinstance(operands, list):
        raise bad("bad_request", "query.operands must be a list.")
    tests = []
    for operand in operands:
        name = operand.get("filter_name") if isinstance(operand, dict) else None
        if not isinstance(name, str):
            raise bad(f"{prefix}_filter_name_must_be_string", "filter_name is required.")
        if operand.get("filter_value") in (None, "", []):
            raise bad(f"{prefix}_missing_filter_value", f"{name} needs a filter_value.")
        tests.append(_operand(prefix, name, operand["filter_value"]))
    if not tests:
        return lambda _doc: True
    combine = all if operator == "AND" else any
    return lambda doc: combine(test(doc) for test in tests)


def asks_for_statuses(body: Doc) -> bool:
    """Whether the query filters on statuses (otherwise deleted members stay hidden)."""
    query = body.get("query") if isinstance(body.get("query"), dict) else {}
    operands = query.get("operands") if isinstance(query.get("operands"), list) else []
    return any(isinstance(op, dict) and op.get("filter_name") == "statuses" for op in operands)


def page(body: Doc, matches: Rows) -> tuple[Rows, int, str | None]:
    """One page of (seq, doc) matches after the body's cursor, the total and the next cursor."""
    limit = body.get("limit") or DEFAULT_LIMIT
    if not isinstance(limit, int) or isinstance(limit, bool) or not 0 < limit <= MAX_LIMIT:
        raise bad("bad_request", f"limit must be between 1 and {MAX_LIMIT}.")
    after = 0
    if body.get("cursor"):
        try:
            after = int(base64.urlsafe_b64decode(str(body["cursor"])).decode().split(":")[1])
        except (binascii.Error, ValueError, IndexError, UnicodeDecodeError) as exc:
            raise bad("bad_request", "The cursor is not valid.") from exc
    rest = [row for row in matches if row[0] > after]
    chunk = rest[:limit]
    more = len(rest) > limit
    cursor = base64.urlsafe_b64encode(f"c:{chunk[-1][0]}".encode()).decode() if more else None
    return chunk, len(matches), cursor


def _operand(prefix: str, name: str, value: Any) -> Predicate:
    if prefix == "member_search" and name == "statuses":
        if not isinstance(value, list) or not all(v in STATUSES for v in value):
            raise bad("search_invalid_status_filter", f"statuses must be among {STATUSES}.")
        return lambda m: m["status"] in value
    if prefix == "member_search" and name == "member_roles":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad(f"{prefix}_expected_array_of_strings", "member_roles must be strings.")
        return lambda m: any(r["role_id"] in value for r in m["roles"])
    fields = MEMBER_FIELDS if prefix == "member_search" else ORGANIZATION_FIELDS
    if name not in fields:
        raise bad(f"{prefix}_filter_name_not_recognized", f"Unknown filter {name!r}.")
    field, fuzzy = fields[name]
    if fuzzy:
        if not isinstance(value, str):
            raise bad(f"{prefix}_expected_string", f"{name} expects a string.")
        if len(value) < 3:
            raise bad(f"{prefix}_{name}_too_short", "Fuzzy filters need at least 3 characters.")
        needle = value.lower()
        return lambda doc: any(needle in str(v).lower() for v in _values(doc[field]))
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad(f"{prefix}_expected_array_of_strings", f"{name} expects a list of strings.")
    wanted = {v.lower() for v in value}
    return lambda doc: any(str(v).lower() in wanted for v in _values(doc[field]))


def _values(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]

"""ZITADEL's wire format for the emulator: documents, queries, offset pages, errors, seed data."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from providers.emulators.seed import Dataset
from providers.emulators.server import HTTPError, Request
from providers.emulators.state import Store

DEFAULT_TOKEN = "zitadel-emulator-pat"
PROJECT_ID = "290000000000000001"
PROJECT_NAME = "Karmo"
ID_BASE = 300000000000000000
SEED_TIME = "2025-01-06T09:05:16.155Z"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
ERROR_DETAIL = "type.googleapis.com/zitadel.v1.ErrorDetail"
EQUALS = "TEXT_QUERY_METHOD_EQUALS"
# ZITADEL authorizations are only ACTIVE or INACTIVE. A seat not yet taken up is an active
# authorization of a user still in USER_STATE_INITIAL (created, never set up).
AUTHZ_STATES = {"active": "STATE_ACTIVE", "inactive": "STATE_INACTIVE", "pending": "STATE_ACTIVE"}
# gRPC status codes by their Connect names, with the HTTP status ZITADEL answers them with.
GRPC_CODES = {
    "unknown": (2, 500),
    "invalid_argument": (3, 400),
    "not_found": (5, 404),
    "already_exists": (6, 409),
    "permission_denied": (7, 403),
    "resource_exhausted": (8, 429),
    "failed_precondition": (9, 400),
    "unimplemented": (12, 501),
    "internal": (13, 500),
    "unavailable": (14, 503),
    "unauthenticated": (16, 401),
}
STATUS_TO_CODE = {
    400: "invalid_argument",
    401: "unauthenticated",
    404: "not_found",
    405: "unimplemented",
    429: "resource_exhausted",
    503: "unavailable",
}


def now() -> str:
    """The current time in ZITADEL's RFC 3339 form, with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def fail(code: str, error_id: str, message: str) -> HTTPError:
    """An HTTPError carrying a gRPC code name and ZITADEL's error id."""
    return HTTPError(GRPC_CODES[code][1], code, message, id=error_id)


def error_body(path: str, error: HTTPError) -> dict[str, Any]:
    """The REST body `{"code": int, "message", "details"}`, or Connect's `{"code": "snake"}`."""
    code = error.code if error.code in GRPC_CODES else STATUS_TO_CODE.get(error.status, "internal")
    error_id = error.extra.get("id", "")
    message = f"{error.message} ({error_id})" if error_id else error.message
    if path.startswith("/zitadel."):
        return {"code": code, "message": message}
    detail = {"@type": ERROR_DETAIL, "id": error_id, "message": error.message}
    return {"code": GRPC_CODES[code][0], "message": message, "details": [detail]}


def read_body(request: Request) -> dict[str, Any]:
    """The JSON object a call carries (an empty object for GET)."""
    if request.method == "GET":
        return {}
    try:
        body = request.json()
    except ValueError:
        raise fail("invalid_argument", "API-body", "request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise fail("invalid_argument", "API-body", "request body must be a JSON object")
    return body


def required(body: dict[str, Any], field: str) -> str:
    """A non-empty string field of a request body."""
    value = body.get(field)
    if not isinstance(value, str) or not value:
        raise fail("invalid_argument", "API-id", f"{field} is required")
    return value


def bump(details: dict[str, Any], owner: str) -> dict[str, Any]:
    """Object details after one more event on the object."""
    sequence = int(details.get("sequence", "0")) + 1
    return {"sequence": str(sequence), "changeDate": now(), "resourceOwner": owner}


def window(query: dict[str, Any]) -> tuple[int, int, bool]:
    """Offset, limit and order of a list query; `asc` defaults to false (newest first)."""
    try:
        offset = int(query.get("offset") or 0)
        limit = int(query.get("limit") or DEFAULT_LIMIT)
    except (TypeError, ValueError):
        raise fail("invalid_argument", "QUERY-offset", "offset and limit must be numbers") from None
    if offset < 0 or limit < 0 or limit > MAX_LIMIT:
        raise fail("invalid_argument", "QUERY-4M9fs", f"limit must be at most {MAX_LIMIT}")
    return offset, limit, bool(query.get("asc", False))


def envelope(total: int, limit: int, style: str) -> dict[str, Any]:
    """The list metadata: v2 `details`, v1 `details` with viewTimestamp, or `pagination`."""
    if style == "pagination":
        return {"pagination": {"totalResult": str(total), "appliedLimit": str(limit)}}
    stamp = "viewTimestamp" if style == "v1" else "timestamp"
    return {"details": {"totalResult": str(total), "processedSequence": "1", stamp: now()}}


def page(
    query: dict[str, Any],
    docs: list[dict[str, Any]],
    key: str,
    *,
    style: str = "details",
    **extra: Any,
) -> dict[str, Any]:
    """One offset page of already filtered documents."""
    offset, limit, asc = window(query)
    if not asc:
        docs = docs[::-1]
    return {**envelope(len(docs), limit, style), **extra, key: docs[offset : offset + limit]}


class Pager:
    """Offset pages over every document of a kind without reading the ones before the page.

    Remembers the sequence where each ascending page ended, so a client walking the pages
    in order costs one indexed query per page; other offsets (pages read concurrently)
    let SQLite skip the rows before them in its index.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._ends: dict[tuple[str, str, int], int] = {}

    def page(
        self, kind: str, query: dict[str, Any], key: str, *, style: str = "details", **extra: Any
    ) -> dict[str, Any]:
        """Like `page`, for the unfiltered kind."""
        offset, limit, asc = window(query)
        generation = self.store.get_meta("generation") or ""
        start = self._ends.get((generation, kind, offset)) if asc else None
        if offset == 0 or start is not None:
            rows = self.store.find(kind, after_seq=start, limit=limit, descending=not asc)
        else:
            rows = self.store.find(kind, limit=limit, offset=offset, descending=not asc)
        if asc and rows:
            if len(self._ends) > 10_000:
                self._ends.clear()
            self._ends[(generation, kind, offset + len(rows))] = rows[-1][0]
        docs = [doc for _, doc in rows]
        return {**envelope(self.store.count(kind), limit, style), **extra, key: docs}


def user_doc(
    user_id: str,
    org_id: str,
    state: str,
    email: str,
    names: tuple[str, str],
    verified: bool,
    changed: str = SEED_TIME,
) -> dict[str, Any]:
    """A v2 user as ListUsers and GetUserByID return it."""
    first, last = names
    return {
        "userId": user_id,
        "details": {"sequence": "1", "changeDate": changed, "resourceOwner": org_id},
        "state": state,
        "username": email,
        "loginNames": [email],
        "preferredLoginName": email,
        "human": {
            "profile": {
                "givenName": first,
                "familyName": last,
                "displayName": f"{first} {last}".strip(),
                "nickName": "",
                "preferredLanguage": "en",
                "gender": "GENDER_UNSPECIFIED",
            },
            "email": {"email": email, "isVerified": verified},
            "phone": {"phone": "", "isVerified": False},
            "passwordChangeRequired": False,
        },
    }


def role_doc(key: str, name: str, group: str = "", changed: str = SEED_TIME) -> dict[str, Any]:
    """A v2 project role."""
    return {
        "projectId": PROJECT_ID,
        "key": key,
        "displayName": name,
        "group": group,
        "creationDate": changed,
        "changeDate": changed,
    }


def grant_doc(owner: str, org: dict[str, Any], keys: list[str], changed: str) -> dict[str, Any]:
    """A v2 project grant of the Karmo project to `org`."""
    return {
        "organizationId": owner,
        "creationDate": changed,
        "changeDate": changed,
        "grantedOrganizationId": org["id"],
        "grantedOrganizationName": org["name"],
        "grantedRoleKeys": sorted(keys),
        "projectId": PROJECT_ID,
        "projectName": PROJECT_NAME,
        "state": "PROJECT_GRANT_STATE_ACTIVE",
    }


def load(store: Store, data: Dataset) -> None:
    """Write `data` into an empty store in ZITADEL's shapes.

    The first organization owns the project; the others get a project grant with the role keys
    their memberships and organization roles use. ZITADEL has no pending authorization: a
    person with a pending seat is a user in USER_STATE_INITIAL (invited, never set up) holding
    an active authorization, which the adapter reads as pending.
    """
    ids = (str(ID_BASE + n * 4096 + n % 7) for n in range(1, 10**9))
    orgs = {
        o.key: {
            "id": (org_id := next(ids)),
            "details": {"sequence": "1", "changeDate": SEED_TIME, "resourceOwner": org_id},
            "state": f"ORGANIZATION_STATE_{'ACTIVE' if o.active else 'INACTIVE'}",
            "name": o.name,
            "primaryDomain": o.domain,
        }
        for o in data.organizations
    }
    owner = orgs[data.organizations[0].key]["id"]
    store.insert_many("org", [(doc["id"], doc, "", "") for doc in orgs.values()])
    users: dict[int, dict[str, Any]] = {}
    invited = {m.person for m in data.memberships if m.status == "pending"}
    for p in data.people:
        home = orgs[data.organizations[p.key % len(data.organizations)].key]["id"]
        state = "USER_STATE_ACTIVE" if p.active else "USER_STATE_INACTIVE"
        if p.key in invited:
            state = "USER_STATE_INITIAL"
        names = (p.first_name, p.last_name)
        users[p.key] = user_doc(next(ids), home, state, p.email, names, p.email_verified)
    store.insert_many(
        "user", [(u["userId"], u, u["details"]["resourceOwner"], "") for u in users.values()]
    )
    roles = {role.slug: role_doc(role.slug, role.name) for role in data.roles}
    store.insert_many("role", [(key, doc, "", "") for key, doc in roles.items()])
    grants: dict[str, set[str]] = {}
    for role in data.roles:
        if role.organization is not None:
            grants.setdefault(orgs[role.organization]["id"], set()).add(role.slug)
    rows = []
    for m in data.memberships:
        org_id, user_id = orgs[m.organization]["id"], users[m.person]["userId"]
        grants.setdefault(org_id, set()).update(m.roles)
        authz = {
            "id": (authz_id := next(ids)),
            "creationDate": SEED_TIME,
            "changeDate": SEED_TIME,
            "projectId": PROJECT_ID,
            "organizationId": org_id,
            "userId": user_id,
            "state": AUTHZ_STATES[m.status],
            "roleKeys": list(m.roles),
        }
        rows.append((authz_id, authz, org_id, user_id))
    store.insert_many("authz", rows)
    by_id = {doc["id"]: doc for doc in orgs.values()}
    store.insert_many(
        "pgrant",
        [
            (org_id, grant_doc(owner, by_id[org_id], sorted(keys), SEED_TIME), "", "")
            for org_id, keys in grants.items()
            if org_id != owner
        ],
    )
    store.set_meta("owner_org", owner)
    store.set_meta("generation", uuid.uuid4().hex)
    store.set_meta("next_id", str(len(orgs) + len(users) + len(rows) + 1))


def new_id(store: Store) -> str:
    """The next numeric-string id, from a counter shared by every process using the store."""
    with store.transaction():
        n = int(store.get_meta("next_id") or "1") + 1
        store.set_meta("next_id", str(n))
    return str(ID_BASE + n * 4096 + n % 7)


def one_query(query: Any) -> tuple[str, dict[str, Any]]:
    """A query or filter is a one-key object naming its kind."""
    if not isinstance(query, dict) or len(query) != 1:
        raise fail("invalid_argument", "API-query", "each query must name exactly one kind")
    ((kind, spec),) = query.items()
    return kind, spec if isinstance(spec, dict) else {}


def text_match(value: str, wanted: str, method: str) -> bool:
    """ZITADEL's TEXT_QUERY_METHOD_* comparisons."""
    if method.endswith("_IGNORE_CASE"):
        value, wanted = value.lower(), wanted.lower()
    if "CONTAINS" in method:
        return wanted in value
    if "STARTS_WITH" in method:
        return value.startswith(wanted)
    if "ENDS_WITH" in method:
        return value.endswith(wanted)
    return value == wanted


def _profile(doc: dict[str, Any]) -> dict[str, Any]:
    return doc.get("human", {}).get("profile", {})


# ListUsers text queries: how to read the user's value, and the query's key for the wanted text.
USER_TEXT_QUERIES: dict[str, tuple[Any, str]] = {
    "emailQuery": (lambda d: d["human"]["email"]["email"], "emailAddress"),
    "userNameQuery": (lambda d: d["username"], "userName"),
    "firstNameQuery": (lambda d: _profile(d).get("givenName", ""), "firstName"),
    "lastNameQuery": (lambda d: _profile(d).get("familyName", ""), "lastName"),
    "nickNameQuery": (lambda d: _profile(d).get("nickName", ""), "nickName"),
    "displayNameQuery": (lambda d: _profile(d).get("displayName", ""), "displayName"),
    "loginNameQuery": (lambda d: d["preferredLoginName"], "loginName"),
}


MAX_LISTED_IDS = 10_000


def listed_ids(queries: list[Any], kind: str, key: str) -> list[str] | None:
    """The ids an id-list query among ANDed `queries` allows; None when there is none.

    A list endpoint reads only these documents instead of every one of the kind. A list
    longer than SQLite takes as parameters is left to the scan.
    """
    for query in queries:
        name, spec = one_query(query)
        if name == kind:
            ids = [str(value) for value in spec.get(key) or []]
            return ids if len(ids) <= MAX_LISTED_IDS else None
    return None


def user_matches(doc: dict[str, Any], query: Any) -> bool:
    """Whether a v2 user matches one ListUsers query."""
    kind, spec = one_query(query)
    method = spec.get("method", EQUALS)
    if kind == "organizationIdQuery":
        return doc["details"]["resourceOwner"] == spec.get("organizationId")
    if kind == "stateQuery":
        return doc["state"] == spec.get("state")
    if kind == "inUserIdsQuery":
        return doc["userId"] in (spec.get("userIds") or [])
    if kind in USER_TEXT_QUERIES:
        value, key = USER_TEXT_QUERIES[kind]
        return text_match(value(doc), str(spec.get(key) or ""), method)
    if kind == "inUserEmailsQuery":
        return doc["human"]["email"]["email"] in (spec.get("userEmails") or [])
    if kind == "typeQuery":
        return spec.get("type") == "TYPE_HUMAN"
    if kind in {"andQuery", "orQuery"}:
        results = [user_matches(doc, q) for q in spec.get("queries") or []]
        return all(results) if kind == "andQuery" else any(results)
    if kind == "notQuery":
        return not user_matches(doc, spec.get("query"))
    raise fail("invalid_argument", "USERv2-query", f"unsupported query {kind!r}")


def org_matches(doc: dict[str, Any], query: Any) -> bool:
    """Whether a v2 organization matches one ListOrganizations query."""
    kind, spec = one_query(query)
    method = spec.get("method", EQUALS)
    if kind == "idQuery":
        return doc["id"] == spec.get("id")
    if kind == "stateQuery":
        return doc["state"] == spec.get("state")
    if kind == "nameQuery":
        return text_match(doc["name"], spec.get("name", ""), method)
    if kind == "domainQuery":
        return text_match(doc["primaryDomain"], spec.get("domain", ""), method)
    raise fail("invalid_argument", "ORG-query", f"unsupported query {kind!r}")


def authz_matches(doc: dict[str, Any], query: Any) -> bool:
    """Whether a stored authorization matches one ListAuthorizations filter."""
    kind, spec = one_query(query)
    if kind in {"organizationId", "userId", "projectId"}:
        return doc[kind] == spec.get("id")
    if kind in {"authorizationIds", "inUserIds"}:
        field = "id" if kind == "authorizationIds" else "userId"
        return doc[field] in (spec.get("ids") or [])
    if kind == "state":
        return doc["state"] == spec.get("state")
    if kind == "roleKey":
        method = spec.get("method", EQUALS)
        return any(text_match(key, str(spec.get("key") or ""), method) for key in doc["roleKeys"])
    raise fail("invalid_argument", "AUTHZ-query", f"unsupported filter {kind!r}")


# ListAuthorizations filters on what an authorization is rendered with: (field path, query key).
RENDERED_AUTHZ_FILTERS: dict[str, tuple[tuple[str, str], str]] = {
    "userDisplayName": (("user", "displayName"), "displayName"),
    "userPreferredLoginName": (("user", "preferredLoginName"), "loginName"),
    "userOrganizationId": (("user", "organizationId"), "id"),
    "projectName": (("project", "name"), "name"),
}


def rendered_authz_matches(item: dict[str, Any], query: Any) -> bool:
    """Whether a rendered authorization matches a filter on its user or project."""
    kind, spec = one_query(query)
    (part, field), key = RENDERED_AUTHZ_FILTERS[kind]
    return text_match(item[part][field], str(spec.get(key) or ""), spec.get("method", EQUALS))

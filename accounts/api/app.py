"""The NinjaAPI at /api/v1/: routers, auth, rate limit, idempotency, errors, OpenAPI 3.1."""

from __future__ import annotations

import copy
from http import HTTPStatus
from typing import Any

from ninja import NinjaAPI

from accounts.api import audit_events, audit_proofs, orgs, requests, users
from accounts.api.auth import BearerAuth, in_token_context
from accounts.api.docs import OfflineDocs
from accounts.api.errors import install_error_handlers
from accounts.api.idempotency import OPENAPI_PARAMETER, WRITE_METHODS, idempotent, remember_answer
from accounts.api.parser import JSONParser, refuse_unknown_query, refuse_unstorable_path
from accounts.api.schemas import ErrorEnvelope
from accounts.api.throttle import TokenRateThrottle
from accounts.errors import ErrorCode

# Error statuses every operation documents, with the product's own descriptions.
ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    422: "UNPROCESSABLE_ENTITY",
    429: "Configured access provider rate limited the request.",
    500: "INTERNAL_SERVER_ERROR",
    502: "The access provider sent an answer Karmo cannot read.",
    503: "Access-management provider is not configured for this environment.",
}
# Free text the server can store: no NUL (which PostgreSQL refuses and the API answers 422).
# Lone surrogates cannot be sent as UTF-8 at all.
STORABLE_TEXT = "^[^\\x00]*$"
RETRY_AFTER_HEADER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer", "minimum": 1},
    }
}
DESCRIPTION = (
    "Automation for Karmo Admin. Authenticate with `Authorization: Bearer <token>`; a token "
    "acts with its staff user's permissions. Every non-2xx answer is the error envelope with an "
    "8-digit Karmo code (HTTP status, domain, case). Writes accept an `Idempotency-Key` header."
)


def error_examples(status: int) -> dict[str, Any]:
    """One example envelope per catalogue code with this HTTP status."""
    return {
        code.name: {
            "summary": code.message,
            "value": {
                "status": code.http_status.name,
                "code": code.code,
                "message": code.message,
                "meta": {},
                "errors": [],
            },
        }
        for code in ErrorCode
        if code.http_status == status
    }


class KarmoAPI(NinjaAPI):
    """NinjaAPI whose OpenAPI document also describes every error answer, once per prefix."""

    def __init__(self, **kwargs: Any) -> None:
        self._schemas: dict[str, dict[str, Any]] = {}
        super().__init__(**kwargs)

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> Any:
        """ninja's document, completed with the envelope, examples and Idempotency-Key."""
        if path_prefix is None:
            path_prefix = self.get_root_path(path_params or {})
        if path_prefix not in self._schemas:
            schema = super().get_openapi_schema(path_prefix=path_prefix)
            self._schemas[path_prefix] = complete_schema(dict(schema))
        return copy.deepcopy(self._schemas[path_prefix])


def complete_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the error envelope to every operation, and the Idempotency-Key header to writes."""
    envelope = ErrorEnvelope.model_json_schema(
        by_alias=True, ref_template="#/components/schemas/{model}"
    )
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {}).update(envelope.pop("$defs", {}))
    components["schemas"]["ErrorEnvelope"] = envelope
    shared = components.setdefault("responses", {})
    for status, description in ERROR_DESCRIPTIONS.items():
        answer: dict[str, Any] = {
            "description": description,
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/ErrorEnvelope"},
                    "examples": error_examples(status),
                }
            },
        }
        if status in (429, 503):
            answer["headers"] = RETRY_AFTER_HEADER
        shared[HTTPStatus(status).name] = answer
    for path_item in schema["paths"].values():
        for method, operation in path_item.items():
            responses = operation.setdefault("responses", {})
            for status in ERROR_DESCRIPTIONS:
                ref = f"#/components/responses/{HTTPStatus(status).name}"
                responses[status] = {"$ref": ref}
            for parameter in operation.get("parameters", []):
                parameter["schema"] = _storable(_without_null(parameter.get("schema", {})))
                if parameter["in"] == "path" and parameter["schema"].get("type") == "string":
                    parameter["schema"].setdefault("minLength", 1)
            if method.upper() in WRITE_METHODS:
                operation.setdefault("parameters", []).append(OPENAPI_PARAMETER)
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                _storable_inputs(body["schema"], components["schemas"])
    return schema


def _storable(schema: dict[str, Any]) -> dict[str, Any]:
    """A free-text string schema that also says NUL is refused."""
    if schema.get("type") != "string" or {"format", "enum"} & set(schema):
        return schema
    if "pattern" not in schema:
        return {**schema, "pattern": STORABLE_TEXT}
    return {**schema, "not": {"pattern": "\\x00"}}  # keeps the field's own pattern


def _storable_inputs(schema: dict[str, Any], components: dict[str, Any]) -> None:
    """Mark every free-text string of a request body (following $refs) with STORABLE_TEXT."""
    if "$ref" in schema:
        _storable_inputs(components[schema["$ref"].rsplit("/", 1)[-1]], components)
        return
    properties = schema.get("properties", {})
    for name, sub in properties.items():
        properties[name] = _storable(sub)
        _storable_inputs(properties[name], components)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            schema[key] = [_storable(sub) for sub in schema[key]]
            for sub in schema[key]:
                _storable_inputs(sub, components)
    if isinstance(schema.get("items"), dict):
        schema["items"] = _storable(schema["items"])
        _storable_inputs(schema["items"], components)


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """`X | None` as X: a query string can leave a parameter out but cannot send null."""
    options = schema.get("anyOf", [])
    rest = [option for option in options if option != {"type": "null"}]
    if len(rest) != 1 or len(options) != 2:
        return schema
    cleaned = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
    return {**rest[0], **cleaned}


def build_api() -> NinjaAPI:
    """A fresh API instance with every router mounted."""
    api = KarmoAPI(
        title="Karmo Admin API",
        version="1.0.0",
        description=DESCRIPTION,
        urls_namespace="api-v1",
        auth=BearerAuth(),
        throttle=[TokenRateThrottle()],
        parser=JSONParser(),
        docs=OfflineDocs(),
    )
    install_error_handlers(api)
    api.add_decorator(in_token_context, mode="operation")
    api.add_decorator(idempotent, mode="operation")
    api.add_decorator(refuse_unknown_query, mode="view")
    api.add_decorator(refuse_unstorable_path, mode="view")
    api.add_decorator(remember_answer, mode="view")
    for module in (orgs, users, requests, audit_events, audit_proofs):
        api.add_router("", module.router)
    return api


api = build_api()

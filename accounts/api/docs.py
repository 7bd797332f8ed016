"""Browsable API docs rendered on the server from the OpenAPI document: no CDN, no scripts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest, HttpResponse
from django.template import Context, Engine
from django.templatetags.static import static
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString
from ninja.openapi.docs import DocsBase

from accounts.errors import ErrorCode

if TYPE_CHECKING:
    from ninja import NinjaAPI

_ENGINE = Engine(dirs=[str(Path(__file__).parent / "templates")], autoescape=True)


@dataclass
class Property:
    """One field of a schema."""

    name: str
    type: str
    required: bool
    description: str


@dataclass
class SchemaDoc:
    """A named component schema."""

    name: str
    description: str
    properties: list[Property] = field(default_factory=list)


@dataclass
class OperationDoc:
    """One method on one path."""

    method: str
    path: str
    operation_id: str
    summary: str
    description: str
    parameters: list[dict[str, Any]]
    request_body: str
    responses: list[tuple[str, str, str]]
    secured: bool


def inline_code(text: str) -> SafeString:
    """Escaped text with `backticked` spans shown as code, as OpenAPI's CommonMark means them."""
    parts = text.split("`")
    if len(parts) % 2 == 0:
        return escape(text)
    pieces = (
        format_html("<code>{}</code>", part) if i % 2 else escape(part)
        for i, part in enumerate(parts)
    )
    return format_html_join("", "{}", ((piece,) for piece in pieces))


def type_of(schema: dict[str, Any]) -> str:
    """A short human-readable type for a JSON schema."""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " | ".join(type_of(s) for s in schema["anyOf"])
    if "enum" in schema:
        return " | ".join(json.dumps(v) for v in schema["enum"])
    if "const" in schema:
        return json.dumps(schema["const"])
    if schema.get("type") == "array":
        return f"array of {type_of(schema.get('items', {}))}"
    kind = schema.get("type", "any")
    return f"{kind} ({schema['format']})" if "format" in schema else str(kind)


def _content_type(content: dict[str, Any]) -> str:
    media = content.get("application/json", {})
    return type_of(media.get("schema", {})) if media else ""


def _resolve(schema: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    if "$ref" not in item:
        return item
    found: Any = schema
    for part in item["$ref"].removeprefix("#/").split("/"):
        found = found[part]
    return found


def describe(schema: dict[str, Any]) -> tuple[list[OperationDoc], list[SchemaDoc]]:
    """Operations in document order and component schemas by name."""
    operations = []
    for path, item in schema["paths"].items():
        for method, op in item.items():
            body = op.get("requestBody", {}).get("content", {})
            operations.append(
                OperationDoc(
                    method=method.upper(),
                    path=path,
                    operation_id=op.get("operationId", ""),
                    summary=op.get("summary", ""),
                    description=inline_code(op.get("description", "")),
                    parameters=[
                        {**p, "type": type_of(p.get("schema", {}))}
                        for p in op.get("parameters", [])
                    ],
                    request_body=_content_type(body),
                    responses=[
                        (
                            str(status),
                            answer.get("description", ""),
                            _content_type(answer.get("content", {})),
                        )
                        for status, answer in (
                            (status, _resolve(schema, answer))
                            for status, answer in op.get("responses", {}).items()
                        )
                    ],
                    secured=bool(op.get("security")),
                )
            )
    components = []
    for name, component in sorted(schema.get("components", {}).get("schemas", {}).items()):
        required = set(component.get("required", []))
        components.append(
            SchemaDoc(
                name=name,
                description=inline_code(component.get("description", "")),
                properties=[
                    Property(
                        prop,
                        type_of(spec),
                        prop in required,
                        inline_code(spec.get("description", "")),
                    )
                    for prop, spec in component.get("properties", {}).items()
                ],
            )
        )
    return operations, components


class OfflineDocs(DocsBase):
    """The docs page: every operation, schema and error code, readable without JavaScript."""

    def render_page(self, request: HttpRequest, api: NinjaAPI, **kwargs: Any) -> HttpResponse:
        """Render the page from the same document /openapi.json serves."""
        schema = api.get_openapi_schema(path_params=kwargs)
        operations, components = describe(schema)
        context = Context(
            {
                "title": schema["info"]["title"],
                "version": schema["info"]["version"],
                "description": inline_code(schema["info"].get("description", "")),
                "openapi_url": self.get_openapi_url(api, kwargs),
                "stylesheet": static("console.css"),
                "operations": operations,
                "components": components,
                "codes": [
                    {
                        "code": c.code,
                        "name": c.name,
                        "status": c.http_status.value,
                        "message": c.message,
                    }
                    for c in ErrorCode
                ],
            }
        )
        html = _ENGINE.get_template("api_docs.html").render(context)
        return HttpResponse(html)

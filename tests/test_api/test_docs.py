"""The OpenAPI 3.1 document, the offline docs page and docs/API.md say what the code does."""

from __future__ import annotations

import re
from http import HTTPStatus

import pytest
from django.test import Client

from accounts.api.docs import inline_code
from accounts.apidocs import OUTPUT, render_current
from accounts.errors import ErrorCode

pytestmark = pytest.mark.django_db

ERROR_STATUSES = {"400", "401", "403", "404", "409", "422", "429", "500", "503"}
SEED_ERROR_DESCRIPTIONS = {
    "400": "BAD_REQUEST",
    "401": "UNAUTHORIZED",
    "403": "FORBIDDEN",
    "404": "NOT_FOUND",
    "409": "CONFLICT",
    "422": "UNPROCESSABLE_ENTITY",
    "429": "Configured access provider rate limited the request.",
    "500": "INTERNAL_SERVER_ERROR",
    "503": "Access-management provider is not configured for this environment.",
}


@pytest.fixture
def document() -> dict:
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.json()


def operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_document_is_openapi_3_1_with_the_bearer_scheme(document):
    assert document["openapi"] == "3.1.0"
    assert document["components"]["securitySchemes"] == {
        "BearerAuth": {"type": "http", "scheme": "bearer"}
    }
    ops = list(operations(document))
    assert len(ops) == 26
    assert all(op["security"] == [{"BearerAuth": []}] for _, _, op in ops)


def test_every_operation_documents_every_error_with_the_envelope(document):
    shared = document["components"]["responses"]
    for status, description in SEED_ERROR_DESCRIPTIONS.items():
        answer = shared[HTTPStatus(int(status)).name]
        assert answer["description"] == description
        content = answer["content"]["application/json"]
        assert content["schema"] == {"$ref": "#/components/schemas/ErrorEnvelope"}
        codes = {example["value"]["code"] for example in content["examples"].values()}
        assert codes == {c.code for c in ErrorCode if str(c.http_status.value) == status}
    for path, method, op in operations(document):
        assert set(op["responses"]) >= ERROR_STATUSES, (method, path)
    envelope = document["components"]["schemas"]["ErrorEnvelope"]
    assert set(envelope["required"]) == {"status", "code", "message", "meta", "errors"}
    assert envelope["properties"]["code"]["description"] == "Karmo 8-digit error code."


def test_seed_operations_match_the_product_pages(document):
    reactivate = document["paths"]["/api/v1/orgs/{orgId}/users/{userId}/reactivate"]["post"]
    assert reactivate["summary"] == "Reactivate organization membership for user"
    ok = reactivate["responses"]["200"]
    assert ok["description"] == "Membership reactivated"
    assert ok["content"]["application/json"]["example"] == {
        "orgId": "org_123",
        "userId": "user_01J7C4Q8QABCD1234XYZ",
        "roles": ["org-admin"],
        "status": "active",
    }
    params = {p["name"]: p for p in reactivate["parameters"]}
    assert params["userId"]["description"] == (
        "Provider user identifier returned by createUser or listUsers."
    )
    assert params["orgId"]["examples"] == ["org_123"]
    assert "requestBody" not in reactivate

    upsert = document["paths"]["/api/v1/orgs/{orgId}/roles/{roleSlug}"]["put"]
    assert upsert["summary"] == "Create or update an organization role"
    assert upsert["responses"]["200"]["content"]["application/json"]["example"] == {
        "id": "role_01HXYZ"
    }
    slug = {p["name"]: p for p in upsert["parameters"]}["roleSlug"]
    assert slug["schema"]["pattern"] == "^org-[a-z0-9_-]+$"
    assert upsert["requestBody"]["required"] is True
    role_in = document["components"]["schemas"]["RoleIn"]
    assert role_in["required"] == ["name"]
    assert role_in["properties"]["name"]["examples"] == ["Organization Admin"]
    membership = document["components"]["schemas"]["MembershipOut"]
    assert list(membership["properties"]) == ["orgId", "userId", "roles", "status"]


def test_writes_document_the_idempotency_key(document):
    for _path, method, op in operations(document):
        names = [p["name"] for p in op.get("parameters", [])]
        assert ("Idempotency-Key" in names) == (method in {"post", "put"})


def test_docs_page_works_offline_under_the_strict_csp():
    response = Client().get("/api/v1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<script" not in html
    assert "style=" not in html
    assert not re.search(r"(src|href)=\"https?://", html)
    assert "script-src" in response["Content-Security-Policy"]
    for operation_id in ("reactivateMembership", "upsertOrganizationRole", "listAuditEvents"):
        assert f'id="{operation_id}"' in html
    assert "Reactivate organization membership for user" in html
    for code in ErrorCode:
        assert code.code in html


def test_api_md_is_generated_from_the_code():
    assert OUTPUT.read_text(encoding="utf-8") == render_current(), (
        "docs/API.md is stale: run `python -m accounts.apidocs`"
    )


@pytest.mark.parametrize(
    ("text", "html"),
    [
        (
            "Send `Authorization: Bearer <token>`.",
            "Send <code>Authorization: Bearer &lt;token&gt;</code>.",
        ),
        ("an odd ` backtick <b>", "an odd ` backtick &lt;b&gt;"),
        ("plain", "plain"),
    ],
)
def test_docs_show_backticked_spans_as_code_and_escape_the_rest(text, html):
    assert str(inline_code(text)) == html


def test_docs_page_renders_the_api_description_with_code_spans():
    page = Client().get("/api/v1/docs").content.decode()
    assert "<code>Authorization: Bearer &lt;token&gt;</code>" in page
    assert "`Authorization" not in page


def test_the_document_says_what_the_server_refuses(manager_api):
    document = manager_api.get("/openapi.json").json()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert "405" in {str(status) for status in operation["responses"]}, (path, method)
            for parameter in operation.get("parameters", []):
                schema = parameter["schema"]
                if parameter["in"] == "path" and schema.get("type") == "string":
                    assert schema["minLength"] >= 1, (path, parameter["name"])
                if schema.get("type") == "string" and not {"format", "enum"} & set(schema):
                    assert not admits(schema, "a\x00"), parameter["name"]
    key = next(
        p
        for p in document["paths"]["/api/v1/orgs/{orgId}/users/{userId}/reactivate"]["post"][
            "parameters"
        ]
        if p["name"] == "Idempotency-Key"
    )
    assert re.fullmatch(key["schema"]["pattern"], "clé") is None
    assert re.fullmatch(key["schema"]["pattern"], "retry-1 of 2") is not None
    reason = document["components"]["schemas"]["ReactivationRequestIn"]["properties"]["reason"]
    assert admits(reason, "a b")
    assert not admits(reason, "a\x00b")


def admits(schema: dict, text: str) -> bool:
    """Whether a string schema's pattern and `not` pattern (JSON Schema: search) allow text."""
    if "pattern" in schema and not re.search(schema["pattern"], text):
        return False
    return "not" not in schema or not re.search(schema["not"]["pattern"], text)

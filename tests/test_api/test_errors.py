"""Every non-2xx answer under /api/ is the error envelope; the catalogue is stable."""

from __future__ import annotations

import logging
from http import HTTPStatus

import pytest
from django.test import Client
from django.urls import include, path
from ninja import NinjaAPI

from accounts.api.errors import enveloped_patterns, install_error_handlers
from accounts.errors import Domain, ErrorCode
from karmo_admin.urls import handler400, handler500  # noqa: F401 - the wiring under test
from tests.test_api.conftest import ApiClient, assert_envelope, make_token

pytestmark = pytest.mark.django_db

# Codes are public: once shipped, a name keeps its number forever. Append new ones here.
PINNED_CODES = {
    "MALFORMED_JSON": "40000001",
    "UNSUPPORTED_MEDIA_TYPE": "40000002",
    "BODY_TOO_LARGE": "40000003",
    "BAD_REQUEST": "40000004",
    "MISSING_TOKEN": "40101001",
    "INVALID_TOKEN": "40101002",
    "TOKEN_EXPIRED": "40101003",
    "SIGN_IN_FAILED": "40101011",
    "SECOND_FACTOR_FAILED": "40101012",
    "REAUTH_REQUIRED": "40101013",
    "SESSION_EXPIRED": "40101014",
    "SIGN_IN_LOCKED": "42901011",
    "PERMISSION_DENIED": "40302001",
    "APPROVAL_REQUIRED": "40302002",
    "SELF_APPROVAL": "40306001",
    "NOT_FOUND": "40400001",
    "ORGANIZATION_NOT_FOUND": "40405001",
    "USER_NOT_FOUND": "40405002",
    "MEMBERSHIP_NOT_FOUND": "40405003",
    "ROLE_NOT_FOUND": "40403001",
    "REQUEST_NOT_FOUND": "40406001",
    "PROVIDER_NOT_FOUND": "40404001",
    "METHOD_NOT_ALLOWED": "40500001",
    "PENDING_CANNOT_REACTIVATE": "40905001",
    "STATE_CONFLICT": "40905002",
    "ALREADY_DECIDED": "40906001",
    "OPEN_REQUEST_EXISTS": "40906002",
    "PROVIDER_CONFLICT": "40904001",
    "VERIFICATION_FAILED": "40904002",
    "IDEMPOTENCY_KEY_REUSED": "40907001",
    "INVALID_ROLE_SLUG": "42203001",
    "INVALID_ROLE_NAME": "42203002",
    "UNKNOWN_ROLE": "42203003",
    "VALIDATION_FAILED": "42200001",
    "REASON_REQUIRED": "42206001",
    "COMMENT_REQUIRED": "42206002",
    "REQUEST_EXPIRED": "42206003",
    "UNSUPPORTED_BY_PROVIDER": "42204001",
    "PROVIDER_REJECTED": "42204002",
    "API_RATE_LIMITED": "42907001",
    "PROVIDER_RATE_LIMITED": "42904001",
    "INTERNAL_ERROR": "50000001",
    "PROVIDER_NOT_CONFIGURED": "50304001",
    "PROVIDER_UNREADABLE": "50204001",
    "PROVIDER_UNAVAILABLE": "50304002",
    "PROVIDER_AUTH_FAILED": "50304003",
    "INVALID_CURSOR": "40000005",
    "INVALID_IDEMPOTENCY_KEY": "40000006",
    "IDEMPOTENCY_IN_PROGRESS": "40907002",
    "CHANGE_NOT_CONFIRMED": "40905003",
    "NO_TIME_LIMIT": "40905004",
    "INVALID_TIME_LIMIT": "42205001",
    "TIME_LIMIT_TOO_LONG": "42205002",
    "TIME_LIMIT_MEMBERSHIP_ONLY": "42205003",
    "AUDIT_EVENT_NOT_FOUND": "40409001",
    "NO_CHECKPOINT": "40409002",
    "TREE_SIZE_NOT_FOUND": "40409003",
    "TREE_SIZE_TOO_SMALL": "40009001",
    "PACK_TOO_LARGE": "40009002",
    "AUDIT_LOG_FORKED": "40909001",
    "SIGNING_KEY_NOT_CONFIGURED": "50309001",
    "WEBHOOK_BAD_PAYLOAD": "40008001",
    "WEBHOOK_BAD_SIGNATURE": "40108001",
    "WEBHOOK_STALE": "40108002",
    "WEBHOOK_NOT_CONFIGURED": "40408001",
    "WEBHOOK_REPLAYED": "40908001",
}

# A second API with the same error handling and one operation that fails unexpectedly,
# served next to the real one (see test_unexpected_exception_*).
crashing_api = NinjaAPI(urls_namespace="crashing")
install_error_handlers(crashing_api)


@crashing_api.get("/crash")
def crash(request):
    raise RuntimeError("a bug")


def plain_crash(request):
    raise RuntimeError("a bug outside ninja")


urlpatterns = [
    path("api/crashing/", include((enveloped_patterns(crashing_api.urls[0]), "crashing"))),
    path("api/plain-crash", plain_crash),
    path("", include("karmo_admin.urls")),
]


def test_codes_are_pinned_unique_and_well_formed():
    current = {code.name: code.code for code in ErrorCode}
    assert current == PINNED_CODES, "a code changed or is new: pin it in PINNED_CODES"
    assert len(set(current.values())) == len(current)
    for code in ErrorCode:
        assert len(code.code) == 8
        assert code.code.isdigit()
        assert HTTPStatus(int(code.code[:3])) == code.http_status
        assert code.domain in Domain
        assert code.message.endswith(".")


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/api/v1/nope"),
        ("get", "/api/v1/orgs/"),
        ("get", "/api/v2/orgs"),
        ("get", "/api/"),
        ("get", "/api/v1/"),
        ("post", "/api/v1/nope"),
        ("delete", "/api/nothing/here"),
    ],
)
def test_unknown_url_is_404_envelope_not_html(manager, method, url):
    client = Client()
    response = getattr(client, method)(
        url, headers={"Authorization": f"Bearer {make_token(manager)}"}
    )
    assert_envelope(response, 404, "40400001")


def test_wrong_method_is_405_envelope_with_allow(manager_api):
    response = manager_api.request("DELETE", "/orgs")
    assert_envelope(response, 405, "40500001")
    assert response["Allow"] == "GET"


def test_malformed_json_is_400(manager_api):
    response = manager_api.put("/orgs/org_1/roles/org-admin", '{"name": ')
    assert_envelope(response, 400, "40000001")


def test_wrong_content_type_is_400(manager_api):
    response = manager_api.put(
        "/orgs/org_1/roles/org-admin",
        "name=Admin",
        content_type="application/x-www-form-urlencoded",
    )
    assert_envelope(response, 400, "40000002")


def test_oversized_body_is_400(manager_api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = manager_api.put("/orgs/org_1/roles/org-admin", {"name": "x" * 2000})
    assert_envelope(response, 400, "40000003")


def test_invalid_role_slug_is_422_pointing_at_role_slug(manager_api):
    response = manager_api.put("/orgs/org_1/roles/admin", {"name": "Admin"})
    body = assert_envelope(response, 422, "42203001")
    assert body["status"] == "UNPROCESSABLE_ENTITY"
    assert body["errors"] == [
        {
            "detail": "must start with 'org-' followed by lowercase letters, digits, hyphens or "
            "underscores",
            "pointer": "/roleSlug",
        }
    ]


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "   "}, {"name": "n" * 49}])
def test_missing_or_long_role_name_is_422_pointing_at_name(manager_api, body):
    response = manager_api.put("/orgs/org_1/roles/org-admin", body)
    result = assert_envelope(response, 422, "42203002")
    assert [e["pointer"] for e in result["errors"]] == ["/name"]


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"roles": ["org-admin", 7]}, "/roles/1"),
        ({"roles": "org-admin"}, "/roles"),
        ({"roles": [], "extra": 1}, "/extra"),
        ([], ""),
    ],
)
def test_validation_errors_carry_json_pointers(manager_api, body, pointer):
    response = manager_api.put("/orgs/org_1/users/user_1/roles", body)
    result = assert_envelope(response, 422, "42200001")
    assert pointer in [e["pointer"] for e in result["errors"]]


def test_nul_characters_are_refused_before_reaching_the_database(manager_api):
    response = manager_api.put("/orgs/org_1/roles/org-admin", {"name": "Ad\u0000min"})
    result = assert_envelope(response, 422, "42200001")
    assert result["errors"][0]["pointer"] == "/name"
    result = assert_envelope(manager_api.get("/users?email=a%00b"), 422, "42200001")
    assert result["errors"][0]["pointer"] == "/email"


def test_invalid_cursor_is_400_pointing_at_cursor(manager_api):
    for cursor in ["zzz", "WyJ1c2VycyIsWyJhIiwxXV0", "WyJvcmdzIixbImEiLCJiIl1d"]:
        result = assert_envelope(manager_api.get(f"/orgs?cursor={cursor}"), 400, "40000005")
        assert result["errors"] == [
            {"detail": "is not a cursor of this list", "pointer": "/cursor"}
        ]


def test_per_token_rate_limit_is_its_own_429(manager, settings):
    settings.KARMO_API_RATE_LIMIT = 3
    client = ApiClient(make_token(manager))
    assert [client.get("/orgs").status_code for _ in range(3)] == [200, 200, 200]
    response = client.get("/orgs")
    body = assert_envelope(response, 429, "42907001")
    assert body["code"] != ErrorCode.PROVIDER_RATE_LIMITED.code
    assert 1 <= int(response["Retry-After"]) <= 60
    other = ApiClient(make_token(manager, name="second"))
    assert other.get("/orgs").status_code == HTTPStatus.OK


def test_disallowed_host_is_400_envelope(manager):
    response = Client().get("/api/v1/orgs", headers={"Host": "evil.example"})
    assert_envelope(response, 400, "40000004")
    assert handler400 == "accounts.api.errors.bad_request"


@pytest.mark.urls(__name__)
def test_unexpected_exception_in_an_operation_is_a_logged_500_envelope(caplog):
    with caplog.at_level(logging.ERROR, logger="karmo.api"):
        response = Client().get("/api/crashing/crash")
    body = assert_envelope(response, 500, "50000001")
    assert "a bug" not in body["message"]
    assert "RuntimeError: a bug" in caplog.text


@pytest.mark.urls(__name__)
def test_unexpected_exception_outside_ninja_is_a_500_envelope():
    response = Client(raise_request_exception=False).get("/api/plain-crash")
    assert_envelope(response, 500, "50000001")
    assert handler500 == "accounts.api.errors.server_error"


def test_unknown_or_repeated_query_parameters_are_422(manager_api):
    result = assert_envelope(manager_api.get("/orgs?stauts=active"), 422, "42200001")
    assert result["errors"] == [
        {"detail": "is not a parameter of this operation", "pointer": "/stauts"}
    ]
    result = assert_envelope(
        manager_api.get("/orgs?status=active&status=inactive"), 422, "42200001"
    )
    assert result["errors"] == [{"detail": "must be given once", "pointer": "/status"}]

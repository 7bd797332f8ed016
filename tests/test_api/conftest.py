"""API test fixtures: Bearer tokens for each staff role and a client that sends them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from accounts.models import ApiToken
from accounts.tokens import issue_token


def make_token(user, name: str = "test", **fields: Any) -> str:
    """A raw token for `user`, issued like a real one (then changed by `fields`)."""
    token, raw = issue_token(user, name)
    if fields:
        ApiToken.objects.filter(pk=token.pk).update(**fields)
    return raw


class ApiClient:
    """Django's test client speaking JSON with a Bearer token."""

    def __init__(self, token: str | None) -> None:
        self.client = Client()
        self.token = token

    def request(self, method: str, path: str, body: Any = None, **headers: str):
        if self.token is not None:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        content_type = headers.pop("content_type", "application/json")
        data = body if body is None or isinstance(body, str | bytes) else json.dumps(body)
        return self.client.generic(
            method, f"/api/v1{path}", data or b"", content_type=content_type, headers=headers
        )

    def get(self, path: str, **headers: str):
        return self.request("GET", path, **headers)

    def post(self, path: str, body: Any = None, **headers: str):
        return self.request("POST", path, body, **headers)

    def put(self, path: str, body: Any = None, **headers: str):
        return self.request("PUT", path, body, **headers)


@pytest.fixture
def manager_api(manager) -> ApiClient:
    return ApiClient(make_token(manager))


@pytest.fixture
def help_desk_api(help_desk) -> ApiClient:
    return ApiClient(make_token(help_desk))


@pytest.fixture
def auditor_api(auditor) -> ApiClient:
    return ApiClient(make_token(auditor))


@pytest.fixture
def other_manager_api(other_manager) -> ApiClient:
    return ApiClient(make_token(other_manager))


def assert_envelope(response, status: int, code: str) -> dict[str, Any]:
    """The answer is the error envelope with this status and Karmo code."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"status", "code", "message", "meta", "errors"}
    assert body["code"] == code
    assert int(code[:3]) == status
    return body

"""The sandbox provider: seeded once, state on disk, shared across restarts."""

from __future__ import annotations

import pytest

from providers.base import Status
from providers.errors import ProviderNotConfigured
from providers.registry import get_provider, provider_status
from providers.sandbox import build_sandbox_provider

pytestmark = pytest.mark.django_db


@pytest.fixture
def sandbox(settings, tmp_path):
    settings.KARMO_PROVIDER = "sandbox"
    settings.KARMO_SANDBOX_FLAVOR = "workos"
    settings.KARMO_SANDBOX_DIR = tmp_path / "sandbox"
    settings.KARMO_SANDBOX_URL = ""
    return settings


def test_sandbox_is_seeded_with_demo_data_on_first_use(sandbox):
    provider = get_provider()
    try:
        memberships = list(provider.list_memberships())
        users = list(provider.list_users())
    finally:
        provider.close()
    assert provider.name == "workos"
    assert provider.sandbox_flavor == "workos"
    assert len(users) == 72
    assert {m.status for m in memberships} == set(Status)
    assert (sandbox.KARMO_SANDBOX_DIR / "workos.sqlite3").exists()


def test_sandbox_state_survives_a_restart(sandbox):
    first = build_sandbox_provider()
    inactive = next(m for m in first.list_memberships() if m.status == Status.INACTIVE)
    result = first.reactivate_membership(inactive)
    first.close()
    assert result.changed

    restarted = build_sandbox_provider()
    try:
        again = restarted.get_membership(inactive.id)
        users = list(restarted.list_users())
    finally:
        restarted.close()
    assert again.status == Status.ACTIVE
    assert again.roles == inactive.roles
    assert len(users) == 72  # not seeded a second time


def test_sandbox_directories_are_independent(sandbox, tmp_path):
    provider = build_sandbox_provider()
    inactive = next(m for m in provider.list_memberships() if m.status == Status.INACTIVE)
    provider.reactivate_membership(inactive)
    provider.close()

    sandbox.KARMO_SANDBOX_DIR = tmp_path / "other"
    other = build_sandbox_provider()
    try:
        assert other.get_membership(inactive.id).status == Status.INACTIVE
    finally:
        other.close()


def test_provider_status_names_the_sandbox_flavour(sandbox):
    status = provider_status()
    assert status.configured
    assert status.name == "sandbox (workos)"


def test_unknown_sandbox_flavour_is_not_configured(sandbox):
    sandbox.KARMO_SANDBOX_FLAVOR = "okta"
    with pytest.raises(ProviderNotConfigured, match="okta"):
        build_sandbox_provider()
    assert provider_status().configured is False


def test_sandbox_url_points_the_adapter_at_a_served_emulator(sandbox, workos_provider):
    sandbox.KARMO_SANDBOX_URL = str(workos_provider.http.client.base_url).rstrip("/")
    provider = build_sandbox_provider()
    try:
        organizations = list(provider.list_organizations())
    finally:
        provider.close()
    assert provider.sandbox_transport is None
    assert len(organizations) == 6

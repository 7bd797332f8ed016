"""Shared fixtures: staff users per role; emulator fixtures live in tests/fixtures/."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Group, User
from django.core.cache import cache

from accounts.permissions import AUDITOR, HELP_DESK, MANAGER

pytest_plugins = [
    "tests.fixtures.workos",
    "tests.fixtures.stytch",
    "tests.fixtures.zitadel",
    "tests.fixtures.app_provider",
    "tests.fixtures.audit",
    "tests.fixtures.witness",
]

ON_POSTGRES = django_settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests marked `postgres` unless DATABASE_URL names PostgreSQL."""
    if ON_POSTGRES:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL=postgres://...)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    """PBKDF2 costs most of a second per staff login a test creates; MD5 is enough here."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def empty_cache(request: pytest.FixtureRequest) -> None:
    """A transactional test's flush empties the model tables but not the cache table, so one
    test's cached values (the last verification, badge counts) would reach the next."""
    marker = request.node.get_closest_marker("django_db")
    if "live_server" in request.fixturenames or (marker and marker.kwargs.get("transaction")):
        request.getfixturevalue("transactional_db")
        cache.clear()


def make_staff(username: str, group_name: str) -> User:
    """A staff login in one of the role groups."""
    user = User.objects.create_user(username, f"{username}@karmo.example", "pw-for-tests-1")
    user.is_staff = True
    user.save()
    user.groups.add(Group.objects.get(name=group_name))
    return user


@pytest.fixture
def help_desk(db) -> User:
    return make_staff("hana.helpdesk", HELP_DESK)


@pytest.fixture
def manager(db) -> User:
    return make_staff("max.manager", MANAGER)


@pytest.fixture
def other_manager(db) -> User:
    return make_staff("mia.manager", MANAGER)


@pytest.fixture
def auditor(db) -> User:
    return make_staff("ada.auditor", AUDITOR)

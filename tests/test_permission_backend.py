"""The permission backend: Django's ModelBackend answers, in one query instead of two."""

from __future__ import annotations

import pytest
from django.contrib.auth import backends
from django.contrib.auth.models import Permission, User

from accounts.context_processors import RememberingPerms
from accounts.permissions import APPROVE_REQUESTS, REQUEST_REACTIVATION, VIEW_AUDIT
from accounts.staff.backends import ModelBackend

pytestmark = pytest.mark.django_db


def fresh(user: User) -> User:
    """The user as a new request loads it: no permission cache yet."""
    return User.objects.get(pk=user.pk)


def test_group_and_own_permissions_come_in_one_query(help_desk, django_assert_num_queries):
    help_desk.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    user = fresh(help_desk)
    with django_assert_num_queries(1):
        assert user.has_perm(REQUEST_REACTIVATION)  # from the Help desk group
        assert user.has_perm(VIEW_AUDIT)  # given to the user directly
        assert not user.has_perm(APPROVE_REQUESTS)


@pytest.mark.parametrize("kind", ["help_desk", "manager", "auditor", "superuser", "inactive"])
def test_same_permissions_as_djangos_model_backend(request, kind):
    if kind == "superuser":
        user = User.objects.create_superuser("root", "root@karmo.example", "pw-for-tests-1")
    elif kind == "inactive":
        user = request.getfixturevalue("manager")
        user.is_active = False
        user.save()
    else:
        user = request.getfixturevalue(kind)
    user.user_permissions.add(Permission.objects.get(codename="start_sync"))
    ours = ModelBackend().get_all_permissions(fresh(user))
    assert ours == backends.ModelBackend().get_all_permissions(fresh(user))
    assert bool(ours) == (kind != "inactive")


def test_templates_ask_each_permission_once_per_render(manager, monkeypatch):
    asked = []
    original = User.has_perm

    def spying(user, perm, obj=None):
        asked.append(perm)
        return original(user, perm, obj)

    monkeypatch.setattr(User, "has_perm", spying)
    perms = RememberingPerms(manager)
    answers = [perms["accounts"]["manage_roles"] for _ in range(10)]
    assert answers == [True] * 10
    assert not perms["accounts"]["verify_auditevent"]
    assert "accounts.manage_roles" in perms
    assert asked == ["accounts.manage_roles", "accounts.verify_auditevent"]

"""`manage.py demo --no-serve`: the demo's set-up without the server."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.core.management import call_command
from django.tasks import TaskResultStatus
from django.test import RequestFactory
from django_tasks_db.models import DBTaskResult

from accounts.checkpoint_task import audit_checkpoint_task
from accounts.management.commands.demo import Command
from accounts.models import OrganizationMembership, SyncRun
from accounts.permissions import AUDITOR, HELP_DESK, MANAGER
from providers.emulators.seed import demo_dataset

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def sandbox(settings, tmp_path, monkeypatch):
    """A fresh sandbox state directory and fast password hashing."""
    settings.KARMO_PROVIDER = "sandbox"
    settings.KARMO_SANDBOX_FLAVOR = "workos"
    settings.KARMO_SANDBOX_URL = ""
    settings.KARMO_SANDBOX_DIR = tmp_path / "sandbox"
    monkeypatch.delenv("KARMO_DEMO_PASSWORD", raising=False)


def sign_in_request() -> object:
    """A sign-in POST: django-axes checks its address against the lockout."""
    return RequestFactory().post("/login/")


def demo(*args: str) -> str:
    out = StringIO()
    call_command("demo", "--no-serve", *args, stdout=out, stderr=out)
    return out.getvalue()


def test_demo_seeds_syncs_and_prints_working_logins_once():
    output = demo()

    run = SyncRun.objects.get()
    assert run.state == SyncRun.State.SUCCEEDED
    assert OrganizationMembership.objects.count() == len(demo_dataset().memberships)
    passwords = dict(re.findall(r"^  (helpdesk|manager|auditor|admin)\s+(\S+)", output, re.M))
    assert set(passwords) == {"helpdesk", "manager", "auditor", "admin"}
    for username, password in passwords.items():
        user = authenticate(sign_in_request(), username=username, password=password)
        assert user is not None, username
        assert user.is_staff
    groups = {u.username: {g.name for g in u.groups.all()} for u in User.objects.all()}
    assert groups["helpdesk"] == {HELP_DESK}
    assert groups["manager"] == {MANAGER}
    assert groups["auditor"] == {AUDITOR}
    assert User.objects.get(username="admin").is_superuser

    again = demo()

    assert "(already set)" in again
    assert "changepassword helpdesk" in again
    assert not any(password in again for password in passwords.values())
    assert (
        authenticate(sign_in_request(), username="manager", password=passwords["manager"])
        is not None
    )
    assert SyncRun.objects.latest("pk").unchanged == run.created


def test_demo_password_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("KARMO_DEMO_PASSWORD", "demo-pass-2026")

    demo("--no-seed")

    assert not SyncRun.objects.exists()
    assert (
        authenticate(sign_in_request(), username="auditor", password="demo-pass-2026") is not None
    )


def test_demo_books_the_checkpoint_task_only_with_a_signing_key(audit_signing, settings):
    def booked() -> int:
        path = audit_checkpoint_task.module_path
        return DBTaskResult.objects.filter(task_path=path, status=TaskResultStatus.READY).count()

    settings.KARMO_AUDIT_CHECKPOINT_SECONDS = 60
    settings.KARMO_AUDIT_SIGNING_KEY = ""
    out = StringIO()
    Command(stdout=out).book_tasks()
    assert booked() == 0
    assert "no audit checkpoints: set KARMO_AUDIT_SIGNING_KEY" in out.getvalue()
    settings.KARMO_AUDIT_SIGNING_KEY = str(audit_signing)
    Command(stdout=out).book_tasks()
    assert booked() == 1
    assert "audit checkpoint every 60 s" in out.getvalue()

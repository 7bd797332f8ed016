"""The expiry sweep books its own next run on django-tasks-db's queue, never twice."""

from __future__ import annotations

import io
import threading
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from accounts import approvals
from accounts.models import ReactivationRequest as Request
from accounts.models import RequestStatus
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

ON_POSTGRES = django_settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
SWEEP = approvals.expire_requests_task.module_path


def waiting() -> list[DBTaskResult]:
    return list(DBTaskResult.objects.filter(task_path=SWEEP, status=TaskResultStatus.READY))


def overdue_request(help_desk) -> Request:  # noqa: ANN001 - a fixture's user
    membership = MembershipFactory(inactive=True)
    request = approvals.request_reactivation(actor=help_desk, target=membership, reason="old")
    Request.objects.filter(pk=request.pk).update(expires_at=timezone.now() - timedelta(hours=1))
    return request


def test_schedule_books_one_deferred_sweep() -> None:
    out = io.StringIO()
    before = timezone.now()
    call_command("expire_requests", "--schedule", stdout=out)
    [booked] = waiting()
    assert (
        before + timedelta(minutes=15) <= booked.run_after <= timezone.now() + timedelta(minutes=15)
    )
    assert "next expiry sweep" in out.getvalue()
    call_command("expire_requests", "--schedule", stdout=io.StringIO())
    approvals.schedule_expiry_sweep()
    assert [r.pk for r in waiting()] == [booked.pk]


def test_interval_comes_from_the_setting(settings) -> None:  # noqa: ANN001 - pytest-django
    settings.KARMO_EXPIRY_SWEEP_MINUTES = 5
    result = approvals.schedule_expiry_sweep()
    assert result is not None
    delay = result.task.run_after - timezone.now()
    assert timedelta(minutes=4) < delay <= timedelta(minutes=5)


def test_zero_interval_books_nothing(settings) -> None:  # noqa: ANN001 - pytest-django
    settings.KARMO_EXPIRY_SWEEP_MINUTES = 0
    out = io.StringIO()
    call_command("expire_requests", "--schedule", stdout=out)
    assert waiting() == []
    assert "no recurring sweep" in out.getvalue()


@pytest.mark.django_db(transaction=True)  # the worker closes connections left in a transaction
def test_worker_runs_the_sweep_and_it_books_the_next(help_desk) -> None:  # noqa: ANN001
    request = overdue_request(help_desk)
    first = approvals.expire_requests_task.enqueue()
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", "--verbosity", "0")
    ran = DBTaskResult.objects.get(pk=first.id)
    assert (ran.status, ran.return_value) == (TaskResultStatus.SUCCESSFUL, 1)
    request.refresh_from_db()
    assert request.status == RequestStatus.EXPIRED
    [booked] = waiting()
    assert booked.run_after > timezone.now() + timedelta(minutes=14)
    assert booked.pk != ran.pk


def test_a_sweep_that_finds_one_waiting_books_no_other() -> None:
    booked = approvals.schedule_expiry_sweep()
    assert approvals.expire_requests_task.call() == 0
    assert [str(r.pk) for r in waiting()] == [booked.id]


def test_immediate_backend_sweeps_once_without_a_schedule(settings, help_desk) -> None:  # noqa: ANN001
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    request = overdue_request(help_desk)
    result = approvals.expire_requests_task.enqueue()
    assert (result.status, result.return_value) == (TaskResultStatus.SUCCESSFUL, 1)
    request.refresh_from_db()
    assert request.status == RequestStatus.EXPIRED
    assert DBTaskResult.objects.count() == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    not ON_POSTGRES,
    reason="threads on the shared in-memory SQLite test database get 'table locked', not a wait",
)
def test_concurrent_bookings_leave_one() -> None:
    barrier = threading.Barrier(4)
    booked: list[str] = []

    def book() -> None:
        try:
            barrier.wait()
            result = approvals.schedule_expiry_sweep()
            booked.append(str(result.id))
        finally:
            connection.close()

    threads = [threading.Thread(target=book) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(booked) == 4
    assert len(set(booked)) == 1
    assert [str(r.pk) for r in waiting()] == booked[:1]

"""The production process model on PostgreSQL: gunicorn with 2 processes, 2 task workers, and
4 client processes racing approvals and reactivations against it; then a task worker killed
mid-task. Loopback only, bounded in requests and time (about 30 s on 2 cores)."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from collections import Counter

import httpx
import pytest

from providers.emulators.workos import EMULATOR_API_KEY
from tests.test_ops.clients import race
from tests.test_ops.stack import (
    free_port,
    make_stack,
    scratch_database,
    stop,
    wait_ready,
)

pytestmark = pytest.mark.postgres
CLIENTS = 4
NOTES = 24


@pytest.fixture(scope="module")
def stack(workos_emulator, tmp_path_factory):
    """A migrated, synced database of its own (module scope: migrating takes seconds)."""
    workos_emulator.app.reset()
    tmp = tmp_path_factory.mktemp("stack")
    with scratch_database() as url:
        yield make_stack(url, tmp, workos_emulator.url, EMULATOR_API_KEY)


@pytest.fixture
def provider_writes(workos_emulator, monkeypatch):
    """(method, path) of every successful write the emulator served."""
    writes: list[tuple[str, str]] = []
    original = workos_emulator.app.dispatch

    def recording(request):
        response = original(request)
        if request.method != "GET" and 200 <= response.status < 300:
            writes.append((request.method, request.path))
        return response

    monkeypatch.setattr(workos_emulator.app, "dispatch", recording)
    return writes


def inactive_memberships(base: str, token: str) -> list[str]:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=f"{base}/api/v1", headers=headers, timeout=30) as client:
        paths = []
        for org in client.get("/orgs", params={"limit": 200}).json()["data"]:
            page = client.get(
                f"/orgs/{org['id']}/memberships", params={"status": "inactive", "limit": 200}
            ).json()
            paths += [f"/orgs/{m['orgId']}/users/{m['userId']}" for m in page["data"]]
    return paths


def test_web_processes_and_task_workers_never_duplicate_a_change_or_a_task(
    stack, provider_writes, tmp_path
):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = stack.start(
        "serve_prod", "--bind", f"127.0.0.1:{port}", "--web", "2", "--threads", "4",
        "--task-workers", "2", log=tmp_path / "serve.log",
    )  # fmt: skip
    try:
        wait_ready(base, server, workers=2)
        inactive = inactive_memberships(base, stack.tokens["desk"])
        assert len(inactive) >= 12
        requested, direct = inactive[:6], inactive[6:12]
        request_ids = []
        with httpx.Client(
            base_url=f"{base}/api/v1",
            headers={"Authorization": f"Bearer {stack.tokens['desk']}"},
            timeout=30,
        ) as desk:
            for path in requested:
                org_id, user_id = path.split("/")[2], path.split("/")[4]
                body = {
                    "targetType": "membership",
                    "orgId": org_id,
                    "userId": user_id,
                    "reason": "Back from leave",
                }
                answer = desk.post("/reactivation-requests", json=body)
                assert answer.status_code == 201, answer.text
                request_ids.append(str(answer.json()["id"]))
        notes = tmp_path / "notes.txt"
        stack.manage(
            "shell", "-c",
            "from tests.test_ops.tasks import note\n"
            f"for n in range({NOTES}): note.enqueue({str(notes)!r}, n, 0.02)",
        )  # fmt: skip
        managers = [stack.tokens["boss.a"], stack.tokens["boss.b"]]
        jobs = [(base, managers[i % 2], request_ids, direct, i) for i in range(CLIENTS)]
        with multiprocessing.get_context("spawn").Pool(CLIENTS) as pool:
            answers = [a for client in pool.map(race, jobs) for a in client]
        deadline = time.monotonic() + 30
        waiting = (
            "SELECT count(*) FROM django_tasks_database_dbtaskresult WHERE finished_at IS NULL"
        )
        while stack.query(waiting)[0][0] and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop(server)
    assert server.returncode == 0

    statuses = Counter(status for _, _, status in answers)
    assert not [s for s in statuses if s >= 500], statuses
    approved = Counter(key for kind, key, status in answers if kind == "approve" and status == 200)
    assert approved == Counter(request_ids), "each request is approved exactly once"
    # Exactly one provider change per membership that really changed, however many clients raced.
    changed = Counter(path for _, path in provider_writes)
    assert len(changed) == len(requested) + len(direct)
    assert set(changed.values()) == {1}

    tasks = stack.query(
        "SELECT status, worker_ids FROM django_tasks_database_dbtaskresult WHERE task_path LIKE %s",
        "%.note",
    )
    assert len(tasks) == NOTES
    assert {status for status, _ in tasks} == {"SUCCESSFUL"}
    assert all(len(worker_ids) == 1 for _, worker_ids in tasks), "no task claimed twice"
    assert len({worker_ids[0] for _, worker_ids in tasks}) == 2, "both workers took tasks"
    runs = [line.split()[1] for line in notes.read_text().splitlines() if line.startswith("start")]
    assert sorted(runs, key=int) == [str(n) for n in range(NOTES)], "each task ran exactly once"
    assert "audit log verified" in stack.manage("verify_audit_log")


def test_a_task_worker_killed_mid_task_has_its_task_run_again_by_another(stack, tmp_path):
    stack.env.update(KARMO_WORKER_HEARTBEAT_SECONDS="0.3", KARMO_WORKER_STALE_SECONDS="2")
    notes = tmp_path / "notes.txt"
    stack.manage(
        "shell", "-c",
        f"from tests.test_ops.tasks import note\nprint(note.enqueue({str(notes)!r}, 7, 2).id)",
    )  # fmt: skip
    worker_cmd = ("task_worker", "--interval", "0.2", "--no-startup-delay")
    # Both start together (each start costs seconds); the one that takes the task is killed.
    workers = [stack.start(*worker_cmd, log=tmp_path / f"worker{i}.log") for i in range(2)]
    try:
        deadline = time.monotonic() + 60  # bounds, not expectations: starting takes seconds
        while not (notes.exists() and "start 7" in notes.read_text()):
            assert time.monotonic() < deadline, "no worker started the task"
            time.sleep(0.05)
        first_pid = int(notes.read_text().split()[2])
        (doomed,) = [w for w in workers if w.pid == first_pid]
        (rescuer,) = [w for w in workers if w is not doomed]
        os.killpg(doomed.pid, signal.SIGKILL)
        doomed.wait(timeout=10)
        deadline = time.monotonic() + 30
        while "done 7" not in notes.read_text():
            assert time.monotonic() < deadline, "the task was never run again"
            time.sleep(0.1)
    finally:
        for worker in workers:
            stop(worker)
    lines = notes.read_text().splitlines()
    assert [line.split()[0] for line in lines] == ["start", "start", "done"]
    assert lines[0].split()[2] == str(doomed.pid)
    assert lines[1].split()[2] == lines[2].split()[2] == str(rescuer.pid)
    ((status, worker_ids, result),) = stack.query(
        "SELECT status, worker_ids, return_value FROM django_tasks_database_dbtaskresult "
        "WHERE task_path LIKE %s AND args_kwargs::text LIKE %s",
        "%.note",
        f"%{notes}%",
    )
    assert status == "SUCCESSFUL"
    assert len(set(worker_ids)) == 2
    assert json.loads(json.dumps(result)) == 7

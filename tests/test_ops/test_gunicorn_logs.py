"""gunicorn itself, master and workers, logs JSON lines with KARMO_LOG_FORMAT=json, scrubbed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx

from tests.test_ops.stack import ROOT, free_port, stop

SECRET_KEY = "gunicorn-log-test-secret-key-0123456789abcdef"
PROVIDER_KEY = "sk_test_gunicorn_log_test_0123456789"
BEARER = "kt_raw.token-that-must-not-be-logged"


def test_master_and_worker_lines_are_json_and_hold_no_secret(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "KARMO_LOG_FORMAT": "json",
        "KARMO_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DJANGO_SECRET_KEY": SECRET_KEY,
        "KARMO_PROVIDER": "workos",
        "WORKOS_API_KEY": PROVIDER_KEY,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)  # the master finds the settings itself
    manage = [sys.executable, str(ROOT / "manage.py"), "migrate", "--verbosity", "0"]
    subprocess.run(manage, env=env, cwd=ROOT, check=True, timeout=300)  # noqa: S603
    log = tmp_path / "gunicorn.log"
    server = subprocess.Popen(  # noqa: S603 - the repository's gunicorn config
        [sys.executable, "-m", "gunicorn", "-c", "python:karmo_admin.gunicorn_conf"]
        + ["karmo_admin.wsgi"],
        env=env,
        cwd=ROOT,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90  # a bound: a worker boots in seconds
        while True:
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "gunicorn did not answer in time"
            try:
                if httpx.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        answer = httpx.get(
            f"{base}/nowhere", headers={"Authorization": f"Bearer {BEARER}"}, timeout=60
        )
        assert answer.status_code == 404
    finally:
        stop(server)
    text = log.read_text()
    records = [json.loads(line) for line in text.splitlines() if line.strip()]
    by_logger = {}
    for record in records:
        assert {"time", "level", "logger", "message"} <= record.keys(), record
        by_logger.setdefault(record["logger"], []).append(record["message"])
    master = " ".join(by_logger["gunicorn.error"])
    for said in ("Starting gunicorn", "Booting worker", "Handling signal", "Shutting down"):
        assert said in master
    assert any(m.startswith("request GET /nowhere 404") for m in by_logger["karmo.requests"])
    for secret in (SECRET_KEY, PROVIDER_KEY, BEARER):
        assert secret not in text

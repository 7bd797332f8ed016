"""Serve Karmo the production way on one host: gunicorn plus task workers, on PostgreSQL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections


class Command(BaseCommand):
    help = (
        "Run gunicorn (--web processes) and --task-workers task workers; stop them all on "
        "SIGTERM/SIGINT, or when any of them exits."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--bind", default=os.environ.get("KARMO_BIND", "127.0.0.1:8000"))
        parser.add_argument("--web", type=int, default=int(os.environ.get("WEB_CONCURRENCY", 2)))
        parser.add_argument("--threads", type=int, default=None)
        parser.add_argument("--task-workers", type=int, default=2)
        parser.add_argument("--migrate", action="store_true", help="apply migrations first")
        parser.add_argument(
            "--metrics-dir",
            default=os.environ.get("PROMETHEUS_MULTIPROC_DIR", ""),
            help="shared by gunicorn's processes (default: a fresh temporary directory)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if connections["default"].vendor != "postgresql":
            raise CommandError("serve_prod runs several processes: set DATABASE_URL=postgres://…")
        if options["migrate"]:
            call_command("migrate", interactive=False, verbosity=0)
        if settings.KARMO_STATIC_MANIFEST:
            call_command("collectstatic", interactive=False, verbosity=0)
        connections.close_all()  # the children open their own
        env = {**os.environ, "KARMO_BIND": options["bind"], "WEB_CONCURRENCY": str(options["web"])}
        # glibc's heap tuned as in the Dockerfile: resident memory flat as a sync grows.
        env.setdefault("MALLOC_ARENA_MAX", "2")
        env.setdefault("MALLOC_MMAP_THRESHOLD_", "131072")
        if options["threads"]:
            env["GUNICORN_THREADS"] = str(options["threads"])
        if options["metrics_dir"]:
            env["PROMETHEUS_MULTIPROC_DIR"] = options["metrics_dir"]
        web = [sys.executable, "-m", "gunicorn", "-c", "python:karmo_admin.gunicorn_conf"]
        manage = str(settings.BASE_DIR / "manage.py")
        worker = [sys.executable, manage, "task_worker", "--interval", "0.5"]
        here = settings.BASE_DIR
        # Each child in a process group of its own: a signal sent to this command's group (Ctrl-C,
        # `kill -- -PGID`) reaches the children once, through _supervise, not twice (a task
        # worker's second SIGTERM abandons its current task).
        alone = {"env": env, "cwd": here, "process_group": 0}
        children = [subprocess.Popen([*web, "karmo_admin.wsgi"], **alone)]  # noqa: S603
        # Workers start once gunicorn has set up the shared metrics directory.
        self._wait_listening(options["bind"], children[0])
        children += [
            subprocess.Popen(worker, **alone)  # noqa: S603 - fixed arguments
            for _ in range(options["task_workers"])
        ]
        self.stdout.write(
            f"serving http://{options['bind']}/ with {options['web']} web processes and "
            f"{options['task_workers']} task workers (pids {[c.pid for c in children]})"
        )
        self.stdout.flush()
        sys.exit(self._supervise(children))

    def _wait_listening(self, bind: str, web: subprocess.Popen, seconds: float = 60) -> None:
        host, _, port = bind.rpartition(":")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and web.poll() is None:
            try:
                socket.create_connection((host or "127.0.0.1", int(port)), timeout=1).close()
            except OSError:
                time.sleep(0.2)
            else:
                return
        raise CommandError("gunicorn did not start listening")

    def _supervise(self, children: list[subprocess.Popen]) -> int:
        stopping = False

        def stop(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(0.2)
        # One exited or we were told to stop: a half-running deployment is worse than none.
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=40)
            except subprocess.TimeoutExpired:
                child.kill()
        failed = [c.returncode for c in children if c.returncode not in (0, -signal.SIGTERM)]
        return 0 if stopping and not failed else 1

"""gunicorn settings for Karmo Admin, read from the environment.

    gunicorn -c python:karmo_admin.gunicorn_conf karmo_admin.wsgi

gthread workers, one process per core (2 here): a read spends most of its time in Python
(20-90 ms of CPU per request at 1,000,000 memberships, BENCHMARKS.md) under one GIL per
process, so more processes than cores only add memory and switching; 4 threads per process
fill the gaps while a request waits on PostgreSQL or the provider. Workers are recycled after
max_requests (with jitter, so they do not all restart at once) and get graceful_timeout
seconds to finish requests on SIGTERM or SIGHUP (reload).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

# Set before anything imports prometheus_client: it picks its value store at import time.
os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", str(Path(tempfile.gettempdir()) / f"karmo-metrics-{os.getpid()}")
)

# Persistent database connections: each worker thread keeps its own, checked before reuse,
# instead of a new PostgreSQL backend per request (settings default 0 suits runserver, whose
# per-request threads would leak them).
os.environ.setdefault("DJANGO_CONN_MAX_AGE", "60")

bind = os.environ.get("KARMO_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
max_requests_jitter = max_requests // 10
# Only the proxy in front may say which client and scheme a request came from.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = None  # ops.middleware logs one line per request, with the request id
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
proc_name = "karmo-web"
# No control socket: it sits at one fixed path per user, shared by every instance on the host.
control_socket_disable = True


if os.environ.get("KARMO_LOG_FORMAT") == "json":
    # The master's own lines (starting, booting and reaping workers, signals) in Karmo's JSON
    # format too; workers switch to settings.LOGGING, which says the same, once Django loads.
    # The formatter scrubs configured secrets, so it reads Django's settings.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "karmo_admin.settings")
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": "WARNING", "handlers": []},
        "filters": {"request_id": {"()": "ops.logs.RequestIdFilter"}},
        "formatters": {"json": {"()": "ops.logs.KarmoJsonFormatter"}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["request_id"],
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            name: {"level": "INFO", "handlers": ["console"], "propagate": False}
            for name in ("gunicorn.error", "gunicorn.access")
        },
    }


def on_starting(server: Any) -> None:
    """Start with an empty metrics directory: samples of an earlier run's pids would linger."""
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)


def child_exit(server: Any, worker: Any) -> None:
    """Drop a finished worker's live gauges from the shared metrics."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)

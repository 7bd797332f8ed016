"""The ops app: registers the deployment checks."""

from __future__ import annotations

import os

from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from ops import checks  # noqa: F401 - registers the system checks

        # prometheus-client writes its multiprocess files there on the first sample.
        if directory := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            os.makedirs(directory, exist_ok=True)

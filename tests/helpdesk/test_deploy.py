"""The deployment files agree with the settings: compose, Procfile, CI script, README."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.helpdesk.child import run_django

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_it_defines_every_service_the_product_needs() -> None:
    services = compose()["services"]
    assert {"postgres", "redis", "web", "worker", "beat", "smtp", "migrate"} <= set(services)
    for name in ("web", "worker", "beat", "smtp", "migrate"):
        service = services[name]
        assert service["build"] == "."
        env = service["environment"]
        assert env["DATABASE_URL"].startswith("postgres://")
        assert env["REDIS_URL"].startswith("redis://redis:")
        assert "SECRET_KEY" in env
    assert "daphne" in services["web"]["command"]
    worker_cmd = " ".join(services["worker"]["command"])
    for queue in ("ingest", "deliver", "sla", "reports"):
        assert queue in worker_cmd
    assert services["beat"]["command"][:3] == ["celery", "-A", "helpdesk"]
    # web must be scalable: no fixed host port
    assert all(":" not in str(p) for p in services["web"].get("ports", []))


def test_compose_config_validates_where_the_docker_client_can() -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker client on this machine; the YAML checks above still ran")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip("docker client without the compose plugin; the YAML checks above ran")
    env = dict(os.environ, SECRET_KEY="x", POSTGRES_PASSWORD="y")
    result = subprocess.run(
        [docker, "compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_the_ci_script_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_procfile_runs_web_worker_beat_and_smtp() -> None:
    procs = dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line
    )
    assert {"web", "worker", "beat", "smtp"} <= set(procs)


def test_settings_refuse_to_start_without_a_secret_key_outside_debug() -> None:
    result = run_django("", drop={"SECRET_KEY", "DEBUG"})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_settings_are_safe_by_default_in_production() -> None:
    result = run_django(
        "from django.conf import settings as s\n"
        "print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.ALLOWED_HOSTS)",
        drop={"DEBUG"},
        env={"SECRET_KEY": "prod-key", "ALLOWED_HOSTS": "desk.example.com"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True", "True", "['desk.example.com']"]

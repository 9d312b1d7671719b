"""The launcher behind `make run` / `make test`: which services it picks and what it leaves
for `manage.py` commands run from another shell."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpdesk import launch
from tests.helpdesk.child import run_django

SHELL_VARIABLES = {"DEBUG", "SECRET_KEY", "DATABASE_URL", "DATABASE_HOST", "REDIS_URL"}


@pytest.fixture
def var_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(launch, "VAR_DIR", tmp_path)
    for name in ("DATABASE_URL", "DATABASE_HOST", "REDIS_URL", "DEBUG"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_it_uses_the_services_the_environment_names(
    var_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://u@db.example:5432/desk")
    monkeypatch.setenv("REDIS_URL", "redis://cache.example:6379/2")
    services = launch.resolve_services(prefer_local=True, remember=True)
    assert services.database_url == "postgres://u@db.example:5432/desk"
    assert services.redis_url == "redis://cache.example:6379/2"
    assert not services.embedded
    written = (var_dir / "services.env").read_text().splitlines()
    assert written == [
        "DATABASE_URL=postgres://u@db.example:5432/desk",
        "REDIS_URL=redis://cache.example:6379/2",
    ]


def test_the_dev_runner_leaves_debug_for_other_shells(
    var_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://u@h/d")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/9")
    monkeypatch.setenv("DEBUG", "1")
    launch.resolve_services(prefer_local=False, remember=True)
    assert "DEBUG=1" in (var_dir / "services.env").read_text().splitlines()

    # a manage.py command in a fresh shell: no DEBUG, no SECRET_KEY, no service URLs
    result = run_django(
        "from django.conf import settings as s; "
        "print(s.DEBUG, s.DATABASES['default']['HOST'], s.DATABASES['default']['NAME'])",
        drop=SHELL_VARIABLES,
        env={"HELPDESK_VAR_DIR": str(var_dir)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "h", "d"]


def test_a_production_shell_without_the_file_still_needs_a_secret_key(var_dir: Path) -> None:
    result = run_django("", drop=SHELL_VARIABLES, env={"HELPDESK_VAR_DIR": str(var_dir)})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr

"""Django started in a child process, with an environment the test chooses: how settings
behave outside this test run (no pytest in sys.modules, no DEBUG unless given)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_django(
    code: str, *, drop: Iterable[str] = (), env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `django.setup()` then `code` in a child, with this environment less `drop` plus
    `env`, as a production process would start (HELPDESK_TESTING off)."""
    dropped = set(drop)
    child = {k: v for k, v in os.environ.items() if k not in dropped}
    child.update(HELPDESK_TESTING="0", DJANGO_SETTINGS_MODULE="helpdesk.settings", **(env or {}))
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + code],
        capture_output=True,
        text=True,
        env=child,
        cwd=ROOT,
        check=False,
    )

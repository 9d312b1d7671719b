"""What every workload process shares: Django start-up, result lines, percentiles."""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULT_PREFIX = "BENCH "


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def emit(**result: Any) -> None:
    """One result line on stdout for `bench.run` to collect; everything else goes to stderr."""
    print(RESULT_PREFIX + json.dumps(result, default=str), flush=True)


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest value with at least `fraction` of them at or below."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def corpus_dir() -> Path:
    configured = os.environ.get("HELPDESK_CORPUS_DIR")
    return Path(configured) if configured else ROOT.parent / "shared" / "corpus"

"""`manage.py kb_import FILE.jsonl`: create or update articles, one line of output per line."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kb.importing import import_lines


class Command(BaseCommand):
    help = "Import knowledge-base articles from a JSONL file (one article per line; '-' = stdin)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="JSONL file, or '-' for standard input")
        parser.add_argument(
            "--strict", action="store_true", help="exit with an error when any line failed"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["file"]
        try:
            handle = sys.stdin if path == "-" else open(path, encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
        counts: dict[str, int] = {}
        with handle:
            for result in import_lines(handle):
                counts[result.action] = counts.get(result.action, 0) + 1
                line = result.describe()
                if result.action == "error":
                    self.stdout.write(self.style.ERROR(line))
                else:
                    self.stdout.write(line)
        summary = ", ".join(
            f"{counts.get(k, 0)} {k}" for k in ("created", "updated", "unchanged", "error")
        )
        self.stdout.write(f"done: {summary}")
        if options["strict"] and counts.get("error"):
            raise CommandError(f"{counts['error']} line(s) failed")

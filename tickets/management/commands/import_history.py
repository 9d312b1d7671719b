"""`import_history FILE.jsonl`: load past tickets with their real timestamps.

One line of output per input line: `zd-1042 → #1300`, `zd-1042 → #1300 (already imported)`,
or `line 7: zd-1049 skipped: <why>`. A summary goes to stderr. The exit code is non-zero only
when the arguments are unusable (no such file), or with `--strict` when a line was skipped.
The format is described in `tickets.history_import`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from tickets.event_types import InvalidEvent
from tickets.history_import import InvalidLine, LineOutcome, parse_line
from tickets.services import ServiceError, ticket_import


class Command(BaseCommand):
    help = (
        "Import past tickets from a JSON Lines file (one ticket per line, with its events and "
        "their real times). Idempotent by external_id."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The .jsonl file to read ('-' reads standard input).")
        parser.add_argument(
            "--create-missing",
            action="store_true",
            help="Create unknown agents (inactive, no usable password) and groups instead of "
            "refusing the line.",
        )
        parser.add_argument(
            "--strict",
            action="store_true",
            help="Exit with a non-zero code when any line was skipped.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        counts = {"imported": 0, "already imported": 0, "skipped": 0}
        with self._open(options["file"]) as handle:
            for outcome in self._outcomes(handle, create_missing=options["create_missing"]):
                counts[outcome.status] += 1
                self.stdout.write(outcome.describe())
        elapsed = time.monotonic() - started
        lines = sum(counts.values())
        rate = f", {lines / elapsed:.0f} lines/s" if elapsed > 0 and lines else ""
        self.stderr.write(
            f"import_history: {counts['imported']} imported, {counts['already imported']} "
            f"already imported, {counts['skipped']} skipped in {elapsed:.1f} s{rate}"
        )
        if options["strict"] and counts["skipped"]:
            raise CommandError(f"{counts['skipped']} line(s) skipped (--strict)")

    def _open(self, name: str) -> AbstractContextManager[IO[bytes]]:
        if name == "-":
            return nullcontext(sys.stdin.buffer)
        path = Path(name)
        if not path.is_file():
            raise CommandError(f"{name}: no such file")
        try:
            return path.open("rb")
        except OSError as exc:
            raise CommandError(f"{name}: {exc.strerror}") from exc

    def _outcomes(self, handle: IO[bytes], *, create_missing: bool) -> Iterator[LineOutcome]:
        for number, raw in enumerate(handle, start=1):
            outcome = LineOutcome(line=number)
            try:
                record = parse_line(raw.decode("utf-8"))
            except UnicodeDecodeError:
                outcome.status, outcome.reason = "skipped", "not UTF-8 text"
                yield outcome
                continue
            except InvalidLine as exc:
                outcome.status, outcome.reason = "skipped", str(exc)
                outcome.external_id = exc.external_id
                yield outcome
                continue
            outcome.external_id = record.external_id
            try:
                result = ticket_import(record=record, create_missing=create_missing)
            except (ServiceError, InvalidEvent) as exc:
                outcome.status, outcome.reason = "skipped", str(exc)
            except DatabaseError as exc:  # the line's transaction is rolled back whole
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc)
                outcome.status, outcome.reason = "skipped", f"the database refused it: {first}"
            else:
                outcome.number = result.number
                outcome.created = list(result.created)
                if result.already_imported:
                    outcome.status = "already imported"
            yield outcome

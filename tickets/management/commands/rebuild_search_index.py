"""`manage.py rebuild_search_index`: rebuild every ticket's search document (after a restore,
an import that skipped the services, or a change of the indexing rules)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tickets.search import index


class Command(BaseCommand):
    help = "Rebuild the full-text search documents of all tickets (or only the missing ones)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--missing", action="store_true", help="Only tickets that have no document yet."
        )
        parser.add_argument(
            "--batch-size", type=int, default=20_000, help="Tickets per transaction."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        started = time.monotonic()

        def progress(done: int, high: int) -> None:
            if options["verbosity"] >= 2:
                self.stdout.write(f"  {done:,} documents written (ticket ids up to {high:,})")

        written = index.documents_rebuild(
            batch_size=options["batch_size"], missing_only=options["missing"], progress=progress
        )
        self.stdout.write(
            f"rebuild_search_index: {written:,} documents in {time.monotonic() - started:.1f} s"
        )

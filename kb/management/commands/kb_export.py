"""`manage.py kb_export [FILE.jsonl]`: every article as one JSON line, re-importable."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from kb.importing import export_records
from kb.models import Article


class Command(BaseCommand):
    help = "Export knowledge-base articles as JSONL (the format kb_import reads)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", nargs="?", default="-", help="output file ('-' = stdout)")
        parser.add_argument("--locale", help="only this locale")
        parser.add_argument(
            "--status", choices=Article.Status.values, help="only articles with this status"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        qs = (
            Article.objects.select_related("group__category__parent__parent")
            .prefetch_related("questions", "group__tags", "group__articles", "group__organisations")
            .order_by("id")
        )
        if options["locale"]:
            qs = qs.filter(locale=options["locale"])
        if options["status"]:
            qs = qs.filter(status=options["status"])
        out = self.stdout if options["file"] == "-" else None
        handle = sys.stdout if out else open(options["file"], "w", encoding="utf-8")  # noqa: SIM115
        try:
            for record in export_records(qs.iterator(chunk_size=500)):
                line = json.dumps(record, ensure_ascii=False)
                if out is not None:
                    out.write(line)
                else:
                    handle.write(line + "\n")
        finally:
            if out is None:
                handle.close()

"""`manage.py kb_eval QUESTIONS.json [--negatives NEG.json]`: search relevance, per signal.

QUESTIONS.json maps an article's external id to questions that should find it. Prints top-1 and
top-3 accuracy for full-text, trigram and semantic search alone and for the fusion, then the
bot's answer rate and precision at the configured threshold and at the calibrated one.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from kb.evaluation import calibrate, evaluate


class Command(BaseCommand):
    help = "Measure search relevance on a labelled set of questions."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("questions")
        parser.add_argument("--negatives", help="JSON list of questions no article answers")
        parser.add_argument("--locale", default="en")
        parser.add_argument("--backend", choices=["numpy", "pgvector"])
        parser.add_argument("--misses", action="store_true", help="list the fusion's misses")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            with open(options["questions"], encoding="utf-8") as handle:
                labelled = json.load(handle)
            negatives: list[str] = []
            if options["negatives"]:
                with open(options["negatives"], encoding="utf-8") as handle:
                    negatives = json.load(handle)
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read the labelled set: {exc}") from exc
        try:
            report = evaluate(
                labelled, negatives=negatives, locale=options["locale"],
                backend=options["backend"],
            )  # fmt: skip
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        for name, acc in report.accuracy.items():
            row = acc.as_dict()
            self.stdout.write(
                f"{name:9} top-1 {row['top1']:.1%}  top-3 {row['top3']:.1%}  ({acc.asked} questions)"
            )
        for threshold in (settings.KB_BOT_THRESHOLD, calibrate(report)):
            stats = report.bot_at(threshold)
            self.stdout.write(
                f"bot @ {threshold:.3f}: answers {stats['answer_rate']:.1%} of labelled questions,"
                f" {stats['precision']:.1%} of answers right,"
                f" answers {stats['negatives_answered']:.1%} of negatives"
            )
        if options["misses"]:
            for external_id, question, top in report.misses:
                self.stdout.write(f"miss {external_id}: {question!r} → {top}")

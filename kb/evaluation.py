"""Relevance measurement: top-1/top-3 accuracy of each signal alone and of the fusion, and the
bot's answer rate and precision at its confidence threshold.

A labelled set maps an article's external id to customer questions that should find it;
negatives are questions that no article answers (the bot should abstain on them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AnonymousUser

from . import search
from .models import Article

CONFIGURATIONS: dict[str, tuple[str, ...]] = {
    "fts": ("fts",),
    "trigram": ("trigram",),
    "semantic": ("semantic",),
    "fusion": search.SIGNALS,
}


@dataclass
class Accuracy:
    asked: int = 0
    top1: int = 0
    top3: int = 0

    def as_dict(self) -> dict[str, float]:
        n = max(self.asked, 1)
        return {"asked": self.asked, "top1": self.top1 / n, "top3": self.top3 / n}


@dataclass
class Report:
    accuracy: dict[str, Accuracy] = field(default_factory=dict)
    # (confidence, top-1 correct?) for each labelled question, and confidence of each negative
    labelled: list[tuple[float, bool]] = field(default_factory=list)
    negatives: list[float] = field(default_factory=list)
    misses: list[tuple[str, str, str]] = field(default_factory=list)

    def bot_at(self, threshold: float) -> dict[str, float]:
        answered = [(c, ok) for c, ok in self.labelled if c >= threshold]
        wrong_neg = sum(1 for c in self.negatives if c >= threshold)
        right = sum(1 for _c, ok in answered if ok)
        total_answers = len(answered) + wrong_neg
        return {
            "threshold": threshold,
            "answer_rate": len(answered) / max(len(self.labelled), 1),
            "precision": right / total_answers if total_answers else 1.0,
            "negatives_answered": wrong_neg / max(len(self.negatives), 1),
        }


def evaluate(
    labelled: Mapping[str, Sequence[str]],
    *,
    negatives: Sequence[str] = (),
    locale: str = "en",
    user: Any = None,
    backend: str | None = None,
) -> Report:
    viewer = user or AnonymousUser()
    ids = dict(
        Article.objects.filter(external_id__in=list(labelled)).values_list("external_id", "id")
    )
    missing = sorted(set(labelled) - set(ids))
    if missing:
        raise ValueError(f"articles not imported: {', '.join(missing)}")
    report = Report(accuracy={name: Accuracy() for name in CONFIGURATIONS})
    for external_id, questions in labelled.items():
        expected = ids[external_id]
        for question in questions:
            for name, signals in CONFIGURATIONS.items():
                result = search.search(
                    user=viewer, query=question, locale=locale, limit=3, signals=signals,
                    backend=backend, with_snippets=False,
                )  # fmt: skip
                got = [h.article_id for h in result.hits]
                acc = report.accuracy[name]
                acc.asked += 1
                acc.top1 += bool(got) and got[0] == expected
                acc.top3 += expected in got
                if name == "fusion":
                    report.labelled.append((result.confidence, bool(got) and got[0] == expected))
                    if not got or got[0] != expected:
                        top = (
                            result.hits[0].article.title
                            if result.hits and result.hits[0].article
                            else "-"
                        )
                        report.misses.append((external_id, question, top))
    for question in negatives:
        result = search.search(
            user=viewer, query=question, locale=locale, limit=1, backend=backend,
            with_snippets=False,
        )  # fmt: skip
        report.negatives.append(result.confidence)
    return report


def calibrate(report: Report, *, min_precision: float = 0.95) -> float:
    """The lowest confidence threshold whose answers are right at least `min_precision` of the
    time, counting an answer to a negative as wrong (a wrong answer costs more than a handover)."""
    candidates = sorted(
        {round(c, 3) for c, _ok in report.labelled} | {round(c, 3) for c in report.negatives}
    )
    for threshold in candidates:
        stats = report.bot_at(threshold)
        if stats["precision"] >= min_precision:
            return threshold
    return 1.0

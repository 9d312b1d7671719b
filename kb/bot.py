"""The answer bot: a KB client that answers only when search is confident, else hands over.

A wrong answer costs more than a handover, so the bot abstains below `KB_BOT_THRESHOLD`, a
confidence threshold calibrated on the labelled set (`manage.py kb_eval`). It searches as the
customer (their visibility) and never from internal articles, whoever asks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import override

from . import search
from .models import Article, SearchLog
from .services import search_log_record

MAX_LINKS = 3
RELATED_SHARE = 0.8  # further links only when their fused score is this close to the best


@dataclass
class BotAnswer:
    answered: bool
    reply: str
    articles: list[Article] = field(default_factory=list)
    handover: bool = False
    confidence: float = 0.0
    search: SearchLog | None = None


def bot_answer(*, user: Any, text: str, locale: str = "en") -> BotAnswer:
    text = " ".join((text or "").split())[:1000]
    result = search.search(
        user=user, query=text, locale=locale, limit=MAX_LINKS, customer_facing=True,
        with_snippets=False,
    )  # fmt: skip
    log = search_log_record(
        query=text, locale=locale, source=SearchLog.Source.BOT, user=user,
        results=[h.article_id for h in result.hits], took_ms=result.took_ms,
    )  # fmt: skip
    threshold = float(settings.KB_BOT_THRESHOLD)
    with override(locale):
        if not result.hits or result.confidence < threshold:
            return BotAnswer(
                answered=False,
                reply=_(
                    "I'm not sure I have the right answer to that. "
                    "I'm passing you to a person from our team."
                ),
                handover=True,
                confidence=result.confidence,
                search=log,
            )
        best = result.hits[0]
        chosen = [
            h.article
            for h in result.hits
            if h.article is not None and h.score >= best.score * RELATED_SHARE
        ]
        top = chosen[0]
        summary = _first_sentences(top.body_text)
        reply = _("This article should help: %(title)s.") % {"title": top.title}
        if summary:
            reply += f" {summary}"
        reply += " " + _("Did this answer your question?")
    return BotAnswer(
        answered=True,
        reply=reply,
        articles=chosen,
        handover=False,
        confidence=result.confidence,
        search=log,
    )


def _first_sentences(text: str, *, limit: int = 240) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit]
    end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    return cut[: end + 1] if end > 60 else cut.rsplit(" ", 1)[0] + " …"

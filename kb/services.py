"""Every change to the knowledge base: one function per use case, one transaction each.

Whenever an article's words change, a revision is recorded and its search data (the weighted
tsvector, trigram text and embeddings) is rebuilt in the same transaction, so search never sees
text that its index does not.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import slugify

from tickets.models import Organisation

from . import embeddings
from .markdown import plain_text, render_markdown
from .models import (
    Article,
    ArticleFeedback,
    ArticleGroup,
    ArticleQuestion,
    ArticleRevision,
    Category,
    KbTag,
    SearchClick,
    SearchLog,
    Visibility,
)


class KbError(Exception):
    """A change the knowledge base refuses, with a message fit to show."""


# PostgreSQL's text search configurations by locale; anything else is indexed as 'simple'.
SEARCH_CONFIGS = {
    "ar": "arabic", "da": "danish", "de": "german", "el": "greek", "en": "english",
    "es": "spanish", "fi": "finnish", "fr": "french", "hu": "hungarian", "id": "indonesian",
    "it": "italian", "lt": "lithuanian", "nb": "norwegian", "nl": "dutch", "no": "norwegian",
    "pt": "portuguese", "ro": "romanian", "ru": "russian", "sv": "swedish", "tr": "turkish",
}  # fmt: skip
BODY_EMBED_CHARS = 2000


def fold(text: str) -> str:
    """Accents off ("réinitialiser" → "reinitialiser"), in Python: the embedded PostgreSQL has
    no `unaccent` extension, and index and query must fold the same way."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def search_config_for(locale: str) -> str:
    return SEARCH_CONFIGS.get((locale or "").split("-")[0].lower(), "simple")


def normalise_locale(locale: str) -> str:
    value = (locale or "").strip().replace("_", "-").lower()
    if not value or len(value) > 10 or not all(part.isalnum() for part in value.split("-")):
        raise KbError(f"Invalid locale {locale!r}.")
    return value


# --- categories --------------------------------------------------------------------------------


def category_ensure_path(*, path: str) -> Category | None:
    """The category at "Cards/Delivery", creating the missing nodes; None for an empty path."""
    names = [part.strip() for part in (path or "").split("/") if part.strip()]
    parent: Category | None = None
    for name in names:
        slug = slugify(name) or "category"
        node = Category.objects.filter(parent=parent, slug=slug).first()
        if node is None:
            node = Category.objects.create(parent=parent, name=name[:200], slug=slug[:200])
        parent = node
    return parent


# --- articles ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArticleText:
    title: str
    body: str
    questions: tuple[str, ...] = ()


def _unique_slug(*, locale: str, title: str, exclude_id: int | None) -> str:
    base = (slugify(title, allow_unicode=True) or "article")[:280]
    slug, n = base, 2
    taken = Article.objects.filter(locale=locale)
    if exclude_id:
        taken = taken.exclude(pk=exclude_id)
    while taken.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def _clean_text(text: ArticleText) -> ArticleText:
    title = " ".join((text.title or "").split())
    if not title:
        raise KbError("An article needs a title.")
    if len(title) > 300:
        raise KbError("A title has at most 300 characters.")
    questions: list[str] = []
    for question in text.questions:
        q = " ".join(str(question).split())
        if len(q) > 500:
            raise KbError("A question has at most 500 characters.")
        if q and q not in questions:
            questions.append(q)
    return ArticleText(title=title, body=(text.body or "").strip(), questions=tuple(questions))


def _current_text(article: Article) -> ArticleText:
    return ArticleText(
        title=article.title,
        body=article.body,
        questions=tuple(q.text for q in article.questions.all()),
    )


def _record_revision(*, article: Article, author: Any, note: str) -> ArticleRevision:
    last = article.revisions.order_by("-number").values_list("number", flat=True).first()
    return ArticleRevision.objects.create(
        article=article,
        number=(last or 0) + 1,
        title=article.title,
        body=article.body,
        questions=[q.text for q in article.questions.all()],
        author=author if getattr(author, "is_authenticated", False) else None,
        note=note[:300],
    )


def article_reindex(*, article: Article) -> None:
    """Rebuild the derived search data of one article from its current text."""
    questions = list(article.questions.all())
    body_text = plain_text(article.body)
    config = search_config_for(article.locale)
    vectors = embeddings.embed(
        [article.title, f"{article.title}. {body_text[:BODY_EMBED_CHARS]}"]
        + [q.text for q in questions]
    )
    Article.objects.filter(pk=article.pk).update(
        search_config=config,
        trigram_text=fold(" \n".join([article.title, *(q.text for q in questions)])).lower(),
        body_text=body_text,
        embedding=[float(x) for x in vectors[0]],
        body_embedding=[float(x) for x in vectors[1]],
    )
    for question, vector in zip(questions, vectors[2:], strict=True):
        ArticleQuestion.objects.filter(pk=question.pk).update(embedding=[float(x) for x in vector])
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE kb_article SET search_vector ="
            " setweight(to_tsvector(%s::regconfig, %s), 'A')"
            " || setweight(to_tsvector(%s::regconfig, %s), 'B')"
            " || setweight(to_tsvector(%s::regconfig, %s), 'C')"
            " WHERE id = %s",
            [
                config,
                fold(article.title),
                config,
                fold(" \n".join(q.text for q in questions)),
                config,
                fold(body_text),
                article.pk,
            ],
        )


def _write_text(*, article: Article, text: ArticleText) -> None:
    article.title = text.title
    article.body = text.body
    article.body_html = render_markdown(text.body).html
    article.updated_at = timezone.now()
    article.save(update_fields=["title", "slug", "body", "body_html", "updated_at"])
    existing = list(article.questions.all())
    for position, question_text in enumerate(text.questions):
        if position < len(existing):
            row = existing[position]
            if row.text != question_text or row.position != position:
                row.text, row.position = question_text, position
                row.save(update_fields=["text", "position"])
        else:
            ArticleQuestion.objects.create(article=article, text=question_text, position=position)
    for row in existing[len(text.questions) :]:
        row.delete()
    article._prefetched_objects_cache = {}  # type: ignore[attr-defined]


@transaction.atomic
def article_create(
    *,
    title: str,
    body: str,
    locale: str = "en",
    questions: Sequence[str] = (),
    group: ArticleGroup | None = None,
    category: Category | None = None,
    visibility: str = Visibility.PUBLIC,
    status: str = Article.Status.DRAFT,
    publish_at: datetime | None = None,
    external_id: str | None = None,
    tags: Sequence[str] = (),
    author: Any = None,
) -> Article:
    """A new article; with `group`, a translation of that group's article into `locale`."""
    locale = normalise_locale(locale)
    text = _clean_text(ArticleText(title=title, body=body, questions=tuple(questions)))
    if visibility not in Visibility.values:
        raise KbError(f"Unknown visibility {visibility!r}.")
    if status not in Article.Status.values:
        raise KbError(f"Unknown status {status!r}.")
    if group is None:
        group = ArticleGroup.objects.create(
            category=category, visibility=visibility, default_locale=locale
        )
        group_set_tags(group=group, names=tags)
    elif group.articles.filter(locale=locale).exists():
        raise KbError(f"This article already has a {locale} translation.")
    article = Article.objects.create(
        group=group,
        locale=locale,
        title=text.title,
        slug=_unique_slug(locale=locale, title=text.title, exclude_id=None),
        status=status,
        publish_at=publish_at,
        external_id=external_id or None,
    )
    _write_text(article=article, text=text)
    _record_revision(article=article, author=author, note="Created")
    article_reindex(article=article)
    return article


@transaction.atomic
def article_update(
    *,
    article: Article,
    title: str,
    body: str,
    questions: Sequence[str],
    author: Any = None,
    note: str = "",
) -> bool:
    """Change the words; records a revision and reindexes. False when nothing changed."""
    text = _clean_text(ArticleText(title=title, body=body, questions=tuple(questions)))
    locked = Article.objects.select_for_update().get(pk=article.pk)
    if _current_text(locked) == text:
        return False
    if locked.title != text.title:
        locked.slug = _unique_slug(locale=locked.locale, title=text.title, exclude_id=locked.pk)
    _write_text(article=locked, text=text)
    _record_revision(article=locked, author=author, note=note or "Edited")
    article_reindex(article=locked)
    article.refresh_from_db()
    return True


@transaction.atomic
def article_restore_revision(*, revision: ArticleRevision, author: Any = None) -> bool:
    """Bring back an old revision's words, as a new revision (history is never rewritten)."""
    return article_update(
        article=revision.article,
        title=revision.title,
        body=revision.body,
        questions=[str(q) for q in revision.questions],
        author=author,
        note=f"Restored revision {revision.number}",
    )


def revision_diff(*, old: ArticleRevision | None, new: ArticleRevision) -> str:
    """A unified diff of the title, questions and body between two revisions."""

    def lines(rev: ArticleRevision | None) -> list[str]:
        if rev is None:
            return []
        return [f"# {rev.title}", *(f"? {q}" for q in rev.questions), "", *rev.body.splitlines()]

    return "\n".join(
        difflib.unified_diff(
            lines(old),
            lines(new),
            fromfile=f"revision {old.number}" if old else "empty",
            tofile=f"revision {new.number}",
            lineterm="",
        )
    )


@transaction.atomic
def article_set_status(
    *, article: Article, status: str, publish_at: datetime | None = None
) -> Article:
    """Publish (now, or at `publish_at`), archive, or send back to draft."""
    if status not in Article.Status.values:
        raise KbError(f"Unknown status {status!r}.")
    article.status = status
    article.publish_at = publish_at if status == Article.Status.PUBLISHED else None
    article.updated_at = timezone.now()
    article.save(update_fields=["status", "publish_at", "updated_at"])
    return article


@transaction.atomic
def group_update(
    *,
    group: ArticleGroup,
    category: Category | None,
    visibility: str,
    organisations: Sequence[Organisation] = (),
    tags: Sequence[str] | None = None,
) -> ArticleGroup:
    if visibility not in Visibility.values:
        raise KbError(f"Unknown visibility {visibility!r}.")
    group.category = category
    group.visibility = visibility
    group.save(update_fields=["category", "visibility"])
    group.organisations.set(organisations)
    if tags is not None:
        group_set_tags(group=group, names=tags)
    return group


def group_set_tags(*, group: ArticleGroup, names: Sequence[str]) -> None:
    wanted: list[KbTag] = []
    for name in names:
        clean = " ".join(str(name).split())[:100]
        if clean:
            wanted.append(KbTag.objects.get_or_create(name=clean)[0])
    group.tags.set(wanted)


@transaction.atomic
def group_set_related(*, group: ArticleGroup, related: Sequence[ArticleGroup]) -> None:
    group.related.set([g for g in related if g.pk != group.pk])


# --- readers -----------------------------------------------------------------------------------


def article_record_view(*, article: Article) -> None:
    Article.objects.filter(pk=article.pk).update(views=F("views") + 1)


@transaction.atomic
def feedback_record(
    *, article: Article, helpful: bool, comment: str = "", user: Any = None, session_key: str = ""
) -> ArticleFeedback:
    """One vote per reader and article: voting again replaces the earlier vote."""
    comment = (comment or "").strip()[:2000]
    who: dict[str, Any]
    if getattr(user, "is_authenticated", False):
        who = {"user": user}
    elif session_key:
        who = {"user": None, "session_key": session_key}
    else:
        return ArticleFeedback.objects.create(article=article, helpful=helpful, comment=comment)
    previous = ArticleFeedback.objects.select_for_update().filter(article=article, **who).first()
    if previous is not None:
        previous.helpful = helpful
        previous.comment = comment or previous.comment
        previous.handled = False
        previous.created_at = timezone.now()
        previous.save(update_fields=["helpful", "comment", "handled", "created_at"])
        return previous
    return ArticleFeedback.objects.create(article=article, helpful=helpful, comment=comment, **who)


@transaction.atomic
def feedback_mark_handled(*, feedback: ArticleFeedback) -> None:
    feedback.handled = True
    feedback.save(update_fields=["handled"])


def search_log_record(
    *, query: str, locale: str, source: str, user: Any, results: Sequence[int], took_ms: float
) -> SearchLog:
    return SearchLog.objects.create(
        query=query[:500],
        locale=locale[:10],
        source=source,
        user=user if getattr(user, "is_authenticated", False) else None,
        results=list(results),
        took_ms=took_ms,
    )


def search_click_record(*, search: SearchLog, article: Article) -> SearchClick | None:
    """A reader opened a result of a logged search (only results it actually returned)."""
    if article.pk not in search.results:
        return None
    return SearchClick.objects.create(
        search=search, article=article, position=search.results.index(article.pk) + 1
    )

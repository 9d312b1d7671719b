"""The JSONL import/export contract: one article per line.

`{"external_id", "title", "body" (Markdown), "category": "Cards/Delivery", "locale": "en",
"visibility": "public", "questions": [...], "tags": [...]}`, plus the optional `status`
(default published), `publish_at` (ISO 8601), `translation_of` (the external id of the same
article in another locale) and `related` (external ids of related articles already imported;
the link goes both ways, so a later line may name an earlier one) and `organisations` (names of
existing organisations, who may read an article whose visibility is "organisations"). Lines are keyed by `external_id`: importing again updates the
article, recording a revision only when its words changed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils.dateparse import parse_datetime

from tickets.models import Organisation

from . import services
from .models import Article, ArticleGroup, Visibility
from .services import KbError

DEMO_ARTICLES = Path(__file__).resolve().parent / "fixtures" / "demo_articles.jsonl"
FIELDS = {
    "external_id", "title", "body", "category", "locale", "visibility", "questions", "tags",
    "status", "publish_at", "translation_of", "related", "organisations",
}  # fmt: skip


@dataclass(frozen=True)
class LineResult:
    line: int
    action: str  # created | updated | unchanged | error | blank
    external_id: str = ""
    article_id: int | None = None
    message: str = ""

    def describe(self) -> str:
        if self.action == "blank":
            return f"line {self.line}: skipped (blank line)"
        if self.action == "error":
            return f"line {self.line}: error: {self.message}"
        return f"line {self.line}: {self.action} {self.external_id} (article {self.article_id})"


def _strings(record: dict[str, Any], key: str) -> list[str]:
    value = record.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise KbError(f"'{key}' must be a list of strings.")
    return value


def _string(record: dict[str, Any], key: str, *, default: str = "", required: bool = False) -> str:
    value = record.get(key, default)
    if value is None:
        value = default
    if not isinstance(value, str):
        raise KbError(f"'{key}' must be a string.")
    if required and not value.strip():
        raise KbError(f"'{key}' is required.")
    return value


def _publish_at(record: dict[str, Any]) -> datetime | None:
    raw = _string(record, "publish_at")
    if not raw:
        return None
    parsed = parse_datetime(raw)
    if parsed is None or parsed.tzinfo is None:
        raise KbError("'publish_at' must be an ISO 8601 date-time with a time zone.")
    return parsed


def import_record(record: Any, *, author: Any = None) -> tuple[str, Article]:
    """Create or update the article of one record; raises KbError, writing nothing, when bad."""
    if not isinstance(record, dict):
        raise KbError("a line must hold a JSON object.")
    unknown = sorted(set(record) - FIELDS)
    if unknown:
        raise KbError(f"unknown field(s): {', '.join(unknown)}.")
    external_id = _string(record, "external_id", required=True).strip()
    if len(external_id) > 200:
        raise KbError("'external_id' has at most 200 characters.")
    title = _string(record, "title", required=True)
    body = _string(record, "body")
    locale = services.normalise_locale(_string(record, "locale", default="en"))
    visibility = _string(record, "visibility", default=Visibility.PUBLIC)
    if visibility not in Visibility.values:
        raise KbError(
            f"'visibility' must be one of {', '.join(Visibility.values)}, not {visibility!r}."
        )
    status = _string(record, "status", default=Article.Status.PUBLISHED)
    if status not in Article.Status.values:
        raise KbError(f"'status' must be one of {', '.join(Article.Status.values)}.")
    questions = _strings(record, "questions")
    tags = _strings(record, "tags")
    publish_at = _publish_at(record)
    translation_of = _string(record, "translation_of").strip()
    related = _strings(record, "related")
    organisation_names = _strings(record, "organisations")
    organisations = list(Organisation.objects.filter(name__in=organisation_names))
    unknown_orgs = sorted(set(organisation_names) - {o.name for o in organisations})
    if unknown_orgs:
        raise KbError(f"unknown organisation(s): {', '.join(unknown_orgs)}.")

    with transaction.atomic():
        action, article = _import(
            external_id=external_id, title=title, body=body, locale=locale,
            visibility=visibility, status=status, questions=questions, tags=tags,
            publish_at=publish_at, translation_of=translation_of,
            category_path=_string(record, "category"), author=author,
        )  # fmt: skip
        if "related" in record:
            groups = ArticleGroup.objects.filter(articles__external_id__in=related).distinct()
            before = set(article.group.related.values_list("id", flat=True))
            services.group_set_related(group=article.group, related=list(groups))
            after = set(article.group.related.values_list("id", flat=True))
            if action == "unchanged" and before != after:
                action = "updated"
        if "organisations" in record:
            group = article.group
            before = set(group.organisations.values_list("id", flat=True))
            if before != {o.pk for o in organisations}:
                services.group_update(
                    group=group, category=group.category, visibility=group.visibility,
                    organisations=organisations,
                )  # fmt: skip
                if action == "unchanged":
                    action = "updated"
        return action, article


def _import(
    *, external_id: str, title: str, body: str, locale: str, visibility: str, status: str,
    questions: list[str], tags: list[str], publish_at: datetime | None, translation_of: str,
    category_path: str, author: Any,
) -> tuple[str, Article]:  # fmt: skip
    category = services.category_ensure_path(path=category_path)
    existing = Article.objects.select_related("group").filter(external_id=external_id).first()
    if existing is None and external_id.startswith("article-"):
        # a line exported from an article that had no external id: adopt that article
        pk = external_id.removeprefix("article-")
        if pk.isdigit():
            existing = Article.objects.filter(pk=int(pk), external_id__isnull=True).first()
    if existing is None:
        group: ArticleGroup | None = None
        if translation_of:
            source = Article.objects.filter(external_id=translation_of).first()
            if source is None:
                raise KbError(f"'translation_of' names an unknown article {translation_of!r}.")
            group = source.group
        article = services.article_create(
            title=title,
            body=body,
            locale=locale,
            questions=questions,
            group=group,
            category=category,
            visibility=visibility,
            status=status,
            publish_at=publish_at,
            external_id=external_id,
            tags=tags,
            author=author,
        )
        if group is not None:
            services.group_update(
                group=group, category=category, visibility=visibility,
                organisations=list(group.organisations.all()), tags=tags,
            )  # fmt: skip
        return "created", article
    if existing.locale != locale:
        raise KbError(f"article {external_id!r} is in {existing.locale}; its locale cannot change.")
    if existing.external_id is None:
        existing.external_id = external_id
        existing.save(update_fields=["external_id"])
    changed = services.article_update(
        article=existing, title=title, body=body, questions=questions, author=author,
        note="Imported",
    )  # fmt: skip
    group = existing.group
    before = (
        group.category_id,
        group.visibility,
        sorted(group.tags.values_list("name", flat=True)),
    )
    services.group_update(
        group=group, category=category, visibility=visibility,
        organisations=list(group.organisations.all()), tags=tags,
    )  # fmt: skip
    after = (
        group.category_id,
        group.visibility,
        sorted(group.tags.values_list("name", flat=True)),
    )
    if existing.status != status or existing.publish_at != publish_at:
        services.article_set_status(article=existing, status=status, publish_at=publish_at)
        changed = True
    return ("updated" if changed or before != after else "unchanged"), existing


def import_lines(lines: Iterable[str], *, author: Any = None) -> Iterator[LineResult]:
    """Each line in its own transaction: a bad line is reported and leaves nothing behind."""
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text:
            yield LineResult(line=number, action="blank")
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            yield LineResult(line=number, action="error", message=f"invalid JSON ({exc.msg}).")
            continue
        try:
            action, article = import_record(record, author=author)
        except KbError as exc:
            external_id = record.get("external_id") if isinstance(record, dict) else ""
            yield LineResult(
                line=number,
                action="error",
                external_id=str(external_id or ""),
                message=str(exc),
            )
            continue
        yield LineResult(
            line=number, action=action, external_id=article.external_id or "",
            article_id=article.pk,
        )  # fmt: skip


def export_records(articles: Iterable[Article]) -> Iterator[dict[str, Any]]:
    for article in articles:
        group = article.group
        default = next((a for a in group.articles.all() if a.locale == group.default_locale), None)
        record: dict[str, Any] = {
            "external_id": article.external_id or f"article-{article.pk}",
            "title": article.title,
            "body": article.body,
            "category": group.category.path if group.category else "",
            "locale": article.locale,
            "visibility": group.visibility,
            "questions": [q.text for q in article.questions.all()],
            "tags": [t.name for t in group.tags.all()],
            "status": article.status,
        }
        if article.publish_at:
            record["publish_at"] = article.publish_at.isoformat()
        if group.visibility == Visibility.ORGANISATIONS:
            record["organisations"] = [o.name for o in group.organisations.all()]
        if default is not None and default.pk != article.pk:
            record["translation_of"] = default.external_id or f"article-{default.pk}"
        yield record

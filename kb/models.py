"""The knowledge base: a category tree, articles in many locales, their revisions and feedback.

An `ArticleGroup` is one piece of knowledge; each `Article` is that knowledge in one locale, with
its own slug, status and revisions. Who may read it (visibility, organisations), where it sits
(category), its tags and related articles belong to the group, so every translation agrees.
Search data (a weighted tsvector, trigram text, embeddings) is derived and stored on the rows by
`kb.services` whenever the text changes.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Visibility(models.TextChoices):
    PUBLIC = "public", _("Public")
    CUSTOMERS = "customers", _("Signed-in customers")
    ORGANISATIONS = "organisations", _("Selected organisations")
    INTERNAL = "internal", _("Internal (agents only)")


class Category(models.Model):
    """A node of the tree: a top-level category, or a section inside one."""

    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200)
    description = models.TextField(blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]
        verbose_name_plural = "categories"
        constraints = [
            models.UniqueConstraint(fields=["parent", "slug"], name="kb_category_slug_per_parent"),
            models.UniqueConstraint(
                fields=["slug"], condition=Q(parent__isnull=True), name="kb_category_root_slug"
            ),
        ]

    def __str__(self) -> str:
        return self.path

    @property
    def path(self) -> str:
        names = [self.name]
        node = self.parent
        seen = {self.pk}
        while node is not None and node.pk not in seen:
            seen.add(node.pk)
            names.append(node.name)
            node = node.parent
        return "/".join(reversed(names))


class KbTag(models.Model):
    name = models.CharField(max_length=100, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "tag"

    def __str__(self) -> str:
        return self.name


class ArticleGroup(models.Model):
    """One article across its locales."""

    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.SET_NULL, related_name="groups"
    )
    visibility = models.CharField(
        max_length=20, choices=Visibility.choices, default=Visibility.PUBLIC
    )
    organisations = models.ManyToManyField(
        "tickets.Organisation",
        blank=True,
        related_name="kb_groups",
        help_text="Who may read it when the visibility is 'Selected organisations'.",
    )
    default_locale = models.CharField(max_length=10, default="en")
    tags = models.ManyToManyField(KbTag, blank=True, related_name="groups")
    related = models.ManyToManyField("self", blank=True, symmetrical=True)
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        first = self.articles.order_by("id").first()
        return first.title if first else f"Article group #{self.pk}"


class Article(models.Model):
    """One locale's article: what readers see and what search indexes."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PUBLISHED = "published", _("Published")
        ARCHIVED = "archived", _("Archived")

    group = models.ForeignKey(ArticleGroup, on_delete=models.CASCADE, related_name="articles")
    locale = models.CharField(max_length=10, default="en")
    title = models.CharField(max_length=300)
    slug = models.SlugField(max_length=300, allow_unicode=True)
    body = models.TextField(blank=True, help_text="Markdown.")
    body_html = models.TextField(blank=True, editable=False)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT)
    publish_at = models.DateTimeField(
        null=True, blank=True, help_text="When set and in the future, the article waits until then."
    )
    external_id = models.CharField(max_length=200, null=True, blank=True, unique=True)
    views = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # derived search data, kept current by kb.services.article_reindex
    search_config = models.CharField(max_length=40, default="simple", editable=False)
    search_vector = SearchVectorField(null=True, editable=False)
    trigram_text = models.TextField(blank=True, editable=False)
    body_text = models.TextField(blank=True, editable=False)
    embedding = ArrayField(models.FloatField(), null=True, blank=True, editable=False)
    body_embedding = ArrayField(models.FloatField(), null=True, blank=True, editable=False)

    class Meta:
        ordering = ["group__position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["group", "locale"], name="kb_article_one_per_locale"),
            models.UniqueConstraint(fields=["locale", "slug"], name="kb_article_slug_per_locale"),
        ]
        indexes = [
            GinIndex(fields=["search_vector"], name="kb_article_fts"),
            models.Index(fields=["status", "locale"], name="kb_article_status_locale"),
        ]

    def __str__(self) -> str:
        return f"{self.title} [{self.locale}]"

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("kb:article", kwargs={"locale": self.locale, "slug": self.slug})


class ArticleQuestion(models.Model):
    """Another way customers ask for this article: searched like the title, shown as FAQ."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="questions")
    text = models.CharField(max_length=500)
    position = models.PositiveIntegerField(default=0)
    embedding = ArrayField(models.FloatField(), null=True, blank=True, editable=False)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.text


class ArticleRevision(models.Model):
    """A snapshot of one article's text, taken at each change; restoring makes a new one."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    questions = models.JSONField(default=list)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["article", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["article", "number"], name="kb_revision_number")
        ]

    def __str__(self) -> str:
        return f"{self.article.title} r{self.number}"


class ArticleFeedback(models.Model):
    """A "was this helpful?" vote; editors work through them as a queue."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="feedback")
    helpful = models.BooleanField()
    comment = models.TextField(blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    session_key = models.CharField(max_length=64, blank=True)
    handled = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["handled", "-created_at"]
        verbose_name_plural = "feedback"

    def __str__(self) -> str:
        return f"{'👍' if self.helpful else '👎'} {self.article.title}"


class SearchLog(models.Model):
    """Every search asked, by whom, and what it returned (article ids in rank order)."""

    class Source(models.TextChoices):
        HELP_CENTRE = "help", _("Help centre")
        API = "api", _("API")
        BOT = "bot", _("Answer bot")

    query = models.CharField(max_length=500)
    locale = models.CharField(max_length=10)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.HELP_CENTRE)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    results = ArrayField(models.BigIntegerField(), default=list)
    took_ms = models.FloatField(default=0)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.query


class SearchClick(models.Model):
    search = models.ForeignKey(SearchLog, on_delete=models.CASCADE, related_name="clicks")
    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="clicks")
    position = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.search.query} → {self.article_id}"

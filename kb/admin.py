"""The Django admin for the knowledge base. Saving an article goes through `kb.services`, so
every edit made here records a revision and reindexes search, like any other edit."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from . import services
from .models import (
    Article,
    ArticleFeedback,
    ArticleGroup,
    ArticleRevision,
    Category,
    KbTag,
    SearchLog,
)


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["__str__", "slug", "position"]
    list_select_related = ["parent__parent"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name"]


@admin.register(KbTag)
class KbTagAdmin(admin.ModelAdmin):
    search_fields = ["name"]


class ArticleInline(admin.TabularInline):
    model = Article
    fields = ["locale", "title", "status"]
    readonly_fields = ["locale", "title", "status"]
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ArticleGroup)
class ArticleGroupAdmin(admin.ModelAdmin):
    list_display = ["__str__", "category", "visibility", "default_locale"]
    list_filter = ["visibility"]
    list_select_related = ["category__parent"]
    filter_horizontal = ["organisations", "tags", "related"]
    inlines = [ArticleInline]


class ArticleForm(forms.ModelForm):
    questions_text = forms.CharField(
        label="Questions",
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="Other ways customers ask for this article, one per line.",
    )

    class Meta:
        model = Article
        fields = ["group", "locale", "title", "body", "status", "publish_at", "external_id"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["group"].required = False
        self.fields["group"].help_text = "Leave empty for a new article; pick one to translate it."
        if self.instance.pk:
            self.fields["questions_text"].initial = "\n".join(
                q.text for q in self.instance.questions.all()
            )

    def questions(self) -> list[str]:
        return [q for q in self.cleaned_data.get("questions_text", "").splitlines() if q.strip()]


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    form = ArticleForm
    list_display = ["title", "locale", "status", "publish_at", "visibility", "updated_at"]
    list_filter = ["status", "locale", "group__visibility"]
    list_select_related = ["group"]
    search_fields = ["title", "external_id"]
    readonly_fields = ["slug", "revisions_link"]

    @admin.display(description="Visibility")
    def visibility(self, obj: Article) -> str:
        return obj.group.get_visibility_display()

    @admin.display(description="History")
    def revisions_link(self, obj: Article) -> str:
        if not obj.pk:
            return "-"
        return format_html(
            '<a href="../../../articlerevision/?article__id__exact={}">{} revisions</a>',
            obj.pk,
            obj.revisions.count(),
        )

    def save_model(self, request: HttpRequest, obj: Article, form: Any, change: bool) -> None:
        data = form.cleaned_data
        try:
            if change:
                services.article_update(
                    article=obj, title=data["title"], body=data["body"],
                    questions=form.questions(), author=request.user,
                )  # fmt: skip
                services.article_set_status(
                    article=obj, status=data["status"], publish_at=data["publish_at"]
                )
            else:
                created = services.article_create(
                    title=data["title"], body=data["body"], locale=data["locale"],
                    questions=form.questions(), group=data["group"], status=data["status"],
                    publish_at=data["publish_at"], external_id=data["external_id"],
                    author=request.user,
                )  # fmt: skip
                obj.pk = created.pk
        except services.KbError as exc:
            messages.error(request, str(exc))


@admin.register(ArticleRevision)
class ArticleRevisionAdmin(admin.ModelAdmin):
    list_display = ["article", "number", "author", "note", "created_at"]
    list_select_related = ["article", "author"]
    readonly_fields = ["article", "number", "title", "body", "questions", "author", "note", "diff"]
    actions = ["restore"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="Changes from the previous revision")
    def diff(self, obj: ArticleRevision) -> str:
        previous = obj.article.revisions.filter(number__lt=obj.number).order_by("-number").first()
        return format_html("<pre>{}</pre>", services.revision_diff(old=previous, new=obj))

    @admin.action(description="Restore the selected revision")
    def restore(self, request: HttpRequest, queryset: QuerySet[ArticleRevision]) -> None:
        if queryset.count() != 1:
            messages.error(request, "Pick exactly one revision to restore.")
            return
        revision = queryset.get()
        changed = services.article_restore_revision(revision=revision, author=request.user)
        messages.success(
            request,
            f"Restored revision {revision.number}."
            if changed
            else "That revision is the current text.",
        )


@admin.register(ArticleFeedback)
class ArticleFeedbackAdmin(admin.ModelAdmin):
    """The editors' feedback queue: unhandled votes first."""

    list_display = ["article", "helpful", "comment", "handled", "created_at"]
    list_filter = ["handled", "helpful"]
    list_select_related = ["article"]
    actions = ["mark_handled"]

    @admin.action(description="Mark as handled")
    def mark_handled(self, request: HttpRequest, queryset: QuerySet[ArticleFeedback]) -> None:
        for feedback in queryset:
            services.feedback_mark_handled(feedback=feedback)


@admin.register(SearchLog)
class SearchLogAdmin(admin.ModelAdmin):
    list_display = ["query", "locale", "source", "took_ms", "created_at"]
    list_filter = ["source", "locale"]
    search_fields = ["query"]
    date_hierarchy = "created_at"

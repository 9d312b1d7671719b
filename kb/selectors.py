"""Read queries of the knowledge base. Who may read what is decided in ONE place:
`readable_articles(user)`; every page, search, the bot, the sitemap and the API start from it."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from tickets.models import Contact
from tickets.roles import is_agent

from .models import Article, ArticleFeedback, ArticleGroup, Category, Visibility


def visibility_filter(user: Any) -> Q:
    """The visibilities `user` may read, as a filter on Article (through its group).

    Anonymous: public. A signed-in customer: public, customers, and organisation-restricted
    articles of their own organisation. Agents: everything, internal included.
    """
    if not getattr(user, "is_authenticated", False):
        return Q(group__visibility=Visibility.PUBLIC)
    if is_agent(user):
        return Q()
    allowed = Q(group__visibility__in=[Visibility.PUBLIC, Visibility.CUSTOMERS])
    organisation_id = _organisation_id(user)
    if organisation_id is not None:
        # a subquery, not a join: a join through the M2M would repeat rows
        allowed |= Q(
            group__visibility=Visibility.ORGANISATIONS,
            group_id__in=ArticleGroup.organisations.through.objects.filter(
                organisation_id=organisation_id
            ).values("articlegroup_id"),
        )
    return allowed


def _organisation_id(user: Any) -> int | None:
    cached = getattr(user, "_kb_organisation_id", False)
    if cached is False:
        cached = (
            Contact.objects.filter(user=user, merged_into__isnull=True)
            .values_list("organisation_id", flat=True)
            .first()
        )
        user._kb_organisation_id = cached
    return cached


def published_filter() -> Q:
    now = timezone.now()
    return Q(status=Article.Status.PUBLISHED) & (
        Q(publish_at__isnull=True) | Q(publish_at__lte=now)
    )


def readable_articles(
    user: Any, *, locale: str | None = None, customer_facing: bool = False
) -> QuerySet[Article]:
    """Published articles (their publish time reached) that `user` may read.

    `customer_facing`: what is said on a customer's behalf (the answer bot) never uses internal
    articles, whoever asks.
    """
    qs = Article.objects.filter(published_filter()).filter(visibility_filter(user))
    if customer_facing:
        qs = qs.exclude(group__visibility=Visibility.INTERNAL)
    if locale:
        qs = qs.filter(locale=locale)
    return qs


def article_for_reader(user: Any, *, locale: str, slug: str) -> Article | None:
    return (
        readable_articles(user, locale=locale)
        .filter(slug=slug)
        .select_related("group__category__parent__parent")
        .prefetch_related("questions", "group__tags")
        .first()
    )


def localised(user: Any, groups: list[int], *, locale: str) -> dict[int, Article]:
    """For each group id, its article in `locale`, else in the group's default locale."""
    rows = (
        readable_articles(user)
        .filter(group_id__in=groups)
        .select_related("group")
        .order_by("group_id", "id")
    )
    chosen: dict[int, Article] = {}
    for article in rows:
        current = chosen.get(article.group_id)
        if article.locale == locale:
            chosen[article.group_id] = article
        elif current is None or (
            current.locale != locale and article.locale == article.group.default_locale
        ):
            chosen[article.group_id] = article
    return chosen


def translations_of(user: Any, article: Article) -> list[Article]:
    return list(
        readable_articles(user)
        .filter(group_id=article.group_id)
        .order_by("locale")
        .only("id", "locale", "slug", "title", "group_id")
    )


def related_articles(user: Any, article: Article, *, limit: int = 5) -> list[Article]:
    group_ids = list(
        ArticleGroup.objects.filter(related=article.group_id).values_list("id", flat=True)[:20]
    )
    chosen = localised(user, group_ids, locale=article.locale)
    return [chosen[g] for g in group_ids if g in chosen][:limit]


def popular_articles(user: Any, *, locale: str, limit: int = 6) -> list[Article]:
    return list(
        readable_articles(user, locale=locale)
        .select_related("group__category")
        .order_by("-views", "-updated_at", "id")[:limit]
    )


def recent_articles(user: Any, *, locale: str, limit: int = 6) -> list[Article]:
    return list(
        readable_articles(user, locale=locale)
        .select_related("group__category")
        .order_by("-updated_at", "-id")[:limit]
    )


def categories_with_counts(user: Any, *, locale: str) -> list[Category]:
    """Top-level categories with the number of readable articles in them and their sections."""
    readable = readable_articles(user, locale=locale)
    counts: dict[int, int] = {}
    for category_id, parent_id, grand_id in readable.values_list(
        "group__category_id", "group__category__parent_id", "group__category__parent__parent_id"
    ):
        root = grand_id or parent_id or category_id
        if root is not None:
            counts[root] = counts.get(root, 0) + 1
    roots = list(
        Category.objects.filter(parent__isnull=True, pk__in=counts).prefetch_related("children")
    )
    for node in roots:
        node.article_count = counts[node.pk]  # type: ignore[attr-defined]
    return roots


def category_articles(user: Any, category: Category, *, locale: str) -> QuerySet[Article]:
    return (
        readable_articles(user, locale=locale)
        .filter(group__category=category)
        .order_by("group__position", "title")
    )


def category_by_path(slugs: list[str]) -> Category | None:
    node: Category | None = None
    for slug in slugs:
        node = Category.objects.filter(parent=node, slug=slug).select_related("parent").first()
        if node is None:
            return None
    return node


def feedback_queue() -> QuerySet[ArticleFeedback]:
    return ArticleFeedback.objects.filter(handled=False).select_related("article")


def sitemap_articles() -> QuerySet[Article]:
    """What search engines may list: public and published, never anything else."""
    from django.contrib.auth.models import AnonymousUser

    return readable_articles(AnonymousUser()).order_by("id")


def with_questions(qs: QuerySet[Article]) -> QuerySet[Article]:
    return qs.prefetch_related(Prefetch("questions"))


def vote_counts(article: Article) -> dict[str, int]:
    row = article.feedback.aggregate(
        yes=Count("id", filter=Q(helpful=True)), no=Count("id", filter=Q(helpful=False))
    )
    return {"helpful": row["yes"] or 0, "unhelpful": row["no"] or 0}


def category_trail(category: Category | None) -> list[Category]:
    """The category and its ancestors, root first (the breadcrumbs)."""
    trail: list[Category] = []
    node = category
    while node is not None and node not in trail:
        trail.append(node)
        node = node.parent
    return list(reversed(trail))


def category_url_path(category: Category) -> str:
    return "/".join(c.slug for c in category_trail(category))


def available_locales(user: Any) -> list[str]:
    return sorted(
        set(readable_articles(user).order_by().values_list("locale", flat=True).distinct())
    )

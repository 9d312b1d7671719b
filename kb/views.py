"""The public help centre: home, categories, articles, search (with suggestions as you type),
votes, and the sitemap. Every read goes through `kb.selectors` with the visitor's visibility."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from . import search, selectors, services
from .forms import VoteForm
from .markdown import render_markdown
from .models import Article, SearchLog

SUGGESTIONS = 6
RESULTS = 20


def contact_url(request: HttpRequest, *, article: Article | None, query: str) -> str:
    """The portal's new-request form, filled in with the article read and the search made."""
    lines = []
    if article is not None:
        lines.append(
            _("I read “%(title)s” (%(url)s) but it didn't solve my problem.")
            % {
                "title": article.title,
                "url": request.build_absolute_uri(article.get_absolute_url()),
            }
        )
    if query:
        lines.append(_("I searched for: %(query)s") % {"query": query})
    params = {"text": "\n".join(lines) + "\n\n" if lines else ""}
    params["subject"] = article.title if article is not None else query
    return reverse("portal:new") + "?" + urlencode({k: v for k, v in params.items() if v})


def _locale(locale: str) -> str:
    try:
        return services.normalise_locale(locale)
    except services.KbError as exc:
        raise Http404(str(exc)) from exc


@require_GET
def root(request: HttpRequest) -> HttpResponse:
    language = (get_language() or settings.KB_DEFAULT_LOCALE).split("-")[0]
    return redirect("kb:home", locale=language or settings.KB_DEFAULT_LOCALE)


@require_GET
def home(request: HttpRequest, locale: str) -> HttpResponse:
    locale = _locale(locale)
    return render(
        request,
        "kb/home.html",
        {
            "locale": locale,
            "categories": selectors.categories_with_counts(request.user, locale=locale),
            "popular": selectors.popular_articles(request.user, locale=locale),
            "recent": selectors.recent_articles(request.user, locale=locale),
            "locales": selectors.available_locales(request.user),
        },
    )


@require_GET
def category(request: HttpRequest, locale: str, path: str) -> HttpResponse:
    locale = _locale(locale)
    node = selectors.category_by_path([s for s in path.split("/") if s])
    if node is None:
        raise Http404("No such category.")
    articles = list(selectors.category_articles(request.user, node, locale=locale))
    sections = [
        (child, list(selectors.category_articles(request.user, child, locale=locale)))
        for child in node.children.all()
    ]
    sections = [(child, rows) for child, rows in sections if rows]
    if not articles and not sections:
        raise Http404("No articles here.")
    return render(
        request,
        "kb/category.html",
        {"locale": locale, "category": node, "articles": articles, "sections": sections,
         "trail": selectors.category_trail(node)},
    )  # fmt: skip


@require_GET
def article(request: HttpRequest, locale: str, slug: str) -> HttpResponse:
    locale = _locale(locale)
    found = selectors.article_for_reader(request.user, locale=locale, slug=slug)
    if found is None:
        raise Http404("No such article.")
    services.article_record_view(article=found)
    rendered = render_markdown(found.body)
    search_id = request.GET.get("s", "")
    query = request.GET.get("q", "")[:200]
    contact = contact_url(request, article=found, query=query)
    return render(
        request,
        "kb/article.html",
        {
            "locale": locale,
            "article": found,
            "body_html": rendered.html,
            "toc": rendered.toc,
            "trail": selectors.category_trail(found.group.category),
            "related": selectors.related_articles(request.user, found),
            "translations": selectors.translations_of(request.user, found),
            "votes": selectors.vote_counts(found),
            "vote_form": VoteForm(initial={"search": search_id}),
            "contact_url": contact,
            "canonical": request.build_absolute_uri(found.get_absolute_url()),
        },
    )


@require_GET
def search_page(request: HttpRequest, locale: str) -> HttpResponse:
    """The results page; asked by htmx (as you type), only the suggestions list."""
    locale = _locale(locale)
    query = request.GET.get("q", "").strip()[:200]
    suggest = bool(getattr(request, "htmx", False))
    result = (
        search.search(
            user=request.user, query=query, locale=locale,
            limit=SUGGESTIONS if suggest else RESULTS, prefix=suggest,
        )
        if query
        else None
    )  # fmt: skip
    log = None
    if result is not None and not suggest:
        log = services.search_log_record(
            query=query, locale=locale, source=SearchLog.Source.HELP_CENTRE, user=request.user,
            results=[h.article_id for h in result.hits], took_ms=result.took_ms,
        )  # fmt: skip
    context = {
        "locale": locale,
        "query": query,
        "hits": result.hits if result else [],
        "log": log,
        "contact_url": contact_url(request, article=None, query=query),
    }
    template = "kb/_suggestions.html" if suggest else "kb/search.html"
    return render(request, template, context)


@require_GET
def click(request: HttpRequest, search_id: int, article_id: int) -> HttpResponseRedirect:
    """A result was opened: record the click on its search, then go to the article."""
    found = selectors.readable_articles(request.user).filter(pk=article_id).first()
    if found is None:
        raise Http404("No such article.")
    log = SearchLog.objects.filter(pk=search_id).first()
    if log is not None and (log.user_id is None or log.user_id == request.user.pk):
        services.search_click_record(search=log, article=found)
    query = log.query if log else ""
    return redirect(found.get_absolute_url() + "?" + urlencode({"s": search_id, "q": query}))


@require_POST
def vote(request: HttpRequest, article_id: int) -> HttpResponse:
    found = selectors.readable_articles(request.user).filter(pk=article_id).first()
    if found is None:
        raise Http404("No such article.")
    form = VoteForm(request.POST)
    if not form.is_valid():
        return HttpResponse(_("Please choose yes or no."), status=400)
    if not request.session.session_key:
        request.session.save()
    services.feedback_record(
        article=found, helpful=form.cleaned_data["helpful"] == "yes",
        comment=form.cleaned_data["comment"], user=request.user,
        session_key=request.session.session_key or "",
    )  # fmt: skip
    log = SearchLog.objects.filter(pk=form.cleaned_data["search"] or 0).only("query").first()
    context = {
        "article": found,
        "helpful": form.cleaned_data["helpful"] == "yes",
        "contact_url": contact_url(request, article=found, query=log.query if log else ""),
    }
    if getattr(request, "htmx", False):
        return render(request, "kb/_voted.html", context)
    return redirect(found.get_absolute_url() + "#feedback")


@require_GET
def sitemap(request: HttpRequest) -> HttpResponse:
    rows = selectors.sitemap_articles().only("locale", "slug", "updated_at")
    return render(
        request,
        "kb/sitemap.xml",
        {"urls": [(request.build_absolute_uri(a.get_absolute_url()), a.updated_at) for a in rows]},
        content_type="application/xml",
    )


def article_by_id(request: HttpRequest, article_id: int) -> HttpResponseRedirect:
    found = get_object_or_404(selectors.readable_articles(request.user), pk=article_id)
    assert isinstance(found, Article)
    return redirect(found.get_absolute_url())

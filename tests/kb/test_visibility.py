"""Internal text never reaches a customer or a stranger, by any path: pages, search, the API,
the bot, the sitemap. Organisation-restricted articles reach only that organisation."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import Client
from django.urls import reverse

from kb import search, selectors
from kb.bot import bot_answer
from kb.models import Article

pytestmark = pytest.mark.django_db

QUERY = "refund override code"


def readable_keys(user: Any, articles: dict[str, Article]) -> set[str]:
    ids = set(selectors.readable_articles(user).values_list("id", flat=True))
    return {key for key, a in articles.items() if a.pk in ids}


def test_who_reads_what(articles: dict[str, Article], customer: Any, acme_customer: Any,
                        agent: Any) -> None:  # fmt: skip
    assert readable_keys(AnonymousUser(), articles) == {"public"}
    assert readable_keys(customer, articles) == {"public", "customers"}
    assert readable_keys(acme_customer, articles) == {"public", "customers", "org"}
    assert readable_keys(agent, articles) == {"public", "customers", "org", "internal"}


def test_search_never_returns_what_the_viewer_may_not_read(
    articles: dict[str, Article], customer: Any, acme_customer: Any, agent: Any
) -> None:
    for user, allowed in (
        (AnonymousUser(), {"public"}),
        (customer, {"public", "customers"}),
        (acme_customer, {"public", "customers", "org"}),
    ):
        for backend in ("numpy", None):
            result = search.search(user=user, query=QUERY, limit=10, backend=backend)
            got = {h.article_id for h in result.hits}
            assert got, user
            assert got <= {articles[k].pk for k in allowed}
    got = {h.article_id for h in search.search(user=agent, query=QUERY, limit=10).hits}
    assert articles["internal"].pk in got


def test_article_pages_404_for_who_may_not_read_them(
    client: Client, articles: dict[str, Article], customer: Any
) -> None:
    internal = articles["internal"]
    assert client.get(internal.get_absolute_url()).status_code == 404
    assert client.get(articles["customers"].get_absolute_url()).status_code == 404
    assert client.get(articles["public"].get_absolute_url()).status_code == 200
    client.force_login(customer)
    assert client.get(internal.get_absolute_url()).status_code == 404
    assert client.get(articles["org"].get_absolute_url()).status_code == 404
    assert client.get(articles["customers"].get_absolute_url()).status_code == 200
    assert client.get(articles["draft"].get_absolute_url()).status_code == 404
    assert (
        client.post(reverse("kb:vote", args=[internal.pk]), {"helpful": "yes"}).status_code == 404
    )


def test_the_help_centre_pages_never_show_internal_text(
    client: Client, articles: dict[str, Article], customer: Any
) -> None:
    client.force_login(customer)
    for url in (
        reverse("kb:home", args=["en"]),
        reverse("kb:search", args=["en"]) + "?q=refund+override",
    ):
        body = client.get(url).content.decode()
        assert "Refund policy" in body
        assert "override" not in body.replace("refund override", "").replace("refund+override", "")
        assert "secret" not in body


def test_the_api_answers_for_the_callers_visibility(
    client: Client, articles: dict[str, Article], agent: Any
) -> None:
    url = reverse("kb_api:search") + "?q=refund+override+code&limit=10"
    titles = {r["title"] for r in client.get(url).json()["results"]}
    assert titles == {"Refund policy for orders"}
    client.force_login(agent)
    titles = {r["title"] for r in client.get(url).json()["results"]}
    assert "Refund override procedure internal" in titles


def test_the_bot_never_answers_from_internal_articles_even_to_an_agent(
    articles: dict[str, Article], agent: Any, client: Client
) -> None:
    for user in (AnonymousUser(), agent):
        answer = bot_answer(user=user, text="how do agents force a refund with the override code")
        assert all(a.group.visibility != "internal" for a in answer.articles)
        assert "secret" not in answer.reply
    client.force_login(agent)
    body = client.post(
        reverse("kb_api:bot-answer"), {"text": "refund override procedure internal"},
        content_type="application/json",
    ).json()  # fmt: skip
    assert articles["internal"].pk not in {a["id"] for a in body["articles"]}


def test_the_sitemap_lists_public_published_articles_only(
    client: Client, articles: dict[str, Article], agent: Any
) -> None:
    client.force_login(agent)  # whoever asks, the sitemap is the public one
    body = client.get("/sitemap.xml").content.decode()
    assert articles["public"].get_absolute_url() in body
    for key in ("customers", "org", "internal", "draft"):
        assert articles[key].slug not in body

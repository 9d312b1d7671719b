from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from kb.importing import DEMO_ARTICLES, import_lines
from kb.models import Article, ArticleFeedback

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(db: Any) -> dict[str, Article]:
    with DEMO_ARTICLES.open(encoding="utf-8") as handle:
        results = list(import_lines(handle))
    assert {r.action for r in results} == {"created"}
    return {a.external_id: a for a in Article.objects.all()}


def test_the_demo_articles_come_in_two_languages_and_import_idempotently(demo: Any) -> None:
    assert {a.locale for a in demo.values()} == {"en", "fr"}
    fr = demo["demo-reset-password-fr"]
    assert fr.group_id == demo["demo-reset-password"].group_id
    with DEMO_ARTICLES.open(encoding="utf-8") as handle:
        assert {r.action for r in import_lines(handle)} == {"unchanged"}


def test_home_lists_categories_popular_and_recent_with_flat_queries(
    client: Client, demo: Any, django_assert_max_num_queries: Any
) -> None:
    with django_assert_max_num_queries(12):
        response = client.get("/help/en/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "How can we help?" in body
    assert "Orders" in body and "Recently updated" in body
    assert "Issuing a goodwill refund" not in body  # internal
    assert client.get("/help/").status_code == 302
    assert "Popular articles" not in body  # nothing read yet: popular would repeat recent
    client.get(demo["demo-return"].get_absolute_url())
    body = client.get("/help/en/").content.decode()
    popular = body[body.index("Popular articles") :]
    assert popular.index("Return an item") < popular.index("Recently updated")


def test_an_article_page_has_breadcrumbs_toc_faq_related_and_canonical(
    client: Client, demo: Any
) -> None:
    article = demo["demo-late-delivery"]
    body = client.get(article.get_absolute_url()).content.decode()
    assert 'aria-label="Breadcrumb"' in body and ">Delivery</a>" in body
    assert 'href="#h-before-you-contact-us"' in body
    assert "My package is late" in body  # FAQ block
    assert "Track your order" in body  # related
    assert f'<link rel="canonical" href="http://testserver{article.get_absolute_url()}">' in body
    en = demo["demo-reset-password"]
    body = client.get(en.get_absolute_url()).content.decode()
    assert demo["demo-reset-password-fr"].get_absolute_url() in body  # locale switcher


def test_a_category_page_lists_its_sections(client: Client, demo: Any) -> None:
    body = client.get("/help/en/c/orders/").content.decode()
    assert "Delivery" in body and "Track your order" in body and "Return an item" in body
    assert client.get("/help/en/c/nope/").status_code == 404


def test_suggestions_as_you_type_are_a_partial(client: Client, demo: Any) -> None:
    response = client.get("/help/en/search/", {"q": "passw"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert "<html" not in body
    assert "Reset your password" in body


def test_a_vote_needs_csrf_and_is_recorded(demo: Any) -> None:
    article = demo["demo-return"]
    strict = Client(enforce_csrf_checks=True)
    assert strict.post(reverse("kb:vote", args=[article.pk]), {"helpful": "no"}).status_code == 403
    page = strict.get(article.get_absolute_url())
    token = page.cookies["csrftoken"].value
    response = strict.post(
        reverse("kb:vote", args=[article.pk]),
        {"helpful": "no", "comment": "The label did not print"},
        HTTP_X_CSRFTOKEN=token, HTTP_HX_REQUEST="true",
    )  # fmt: skip
    assert response.status_code == 200
    assert "Contact us" in response.content.decode()
    vote = ArticleFeedback.objects.get()
    assert (vote.helpful, vote.comment) == (False, "The label did not print")


def test_didnt_help_opens_the_new_request_form_with_article_and_search(
    client: Client, demo: Any, customer: Any
) -> None:
    article = demo["demo-return"]
    client.force_login(customer)
    body = client.get(article.get_absolute_url() + "?q=send+back+shoes").content.decode()
    start = body.index('href="/portal/new/?') + 6
    link = body[start : body.index('"', start)].replace("&amp;", "&")
    params = parse_qs(urlsplit(link).query)
    assert params["subject"] == ["Return an item"]
    assert "send back shoes" in params["text"][0]
    assert article.get_absolute_url() in params["text"][0]
    form = client.get(link).content.decode()
    assert 'value="Return an item"' in form
    assert "send back shoes" in form


def test_the_sitemap_is_xml(client: Client, demo: Any) -> None:
    response = client.get("/sitemap.xml")
    assert response["Content-Type"] == "application/xml"
    assert response.content.decode().count("<url>") == len(
        [a for a in demo.values() if a.group.visibility == "public"]
    )

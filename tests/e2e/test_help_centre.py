"""A customer in a real browser: search the help centre with a typo, open the article, vote."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from kb.importing import DEMO_ARTICLES, import_lines
from kb.models import ArticleFeedback

pytestmark = pytest.mark.e2e


@pytest.fixture
def demo_articles(transactional_db: Any) -> None:
    with DEMO_ARTICLES.open(encoding="utf-8") as handle:
        assert all(r.action == "created" for r in import_lines(handle))


def test_a_visitor_finds_an_article_despite_a_typo_and_votes(
    page: Any, live_server: Any, demo_articles: None, artifacts: Path
) -> None:
    page.goto(f"{live_server.url}/help/en/")
    expect(page.get_by_role("heading", name="How can we help?")).to_be_visible()
    page.screenshot(path=str(artifacts / "kb-home-1280.png"), full_page=True)

    box = page.get_by_role("combobox", name="Search the help centre")
    box.press_sequentially("pasword reset", delay=30)
    suggestion = page.locator("#kb-suggestions").get_by_role("link", name="Reset your password")
    expect(suggestion).to_be_visible()
    page.screenshot(path=str(artifacts / "kb-suggest-1280.png"))

    box.press("Enter")  # the full results page, logged, with highlights
    expect(page.get_by_role("heading", name="Reset your password")).to_be_visible()
    page.screenshot(path=str(artifacts / "kb-results-1280.png"), full_page=True)
    page.get_by_role("link", name="Reset your password").first.click()

    expect(page.get_by_role("heading", level=1, name="Reset your password")).to_be_visible()
    expect(page.get_by_role("navigation", name="On this page")).to_contain_text("No email arrived?")
    page.screenshot(path=str(artifacts / "kb-article-1280.png"), full_page=True)

    page.get_by_role("button", name="No").click()
    expect(page.get_by_text("Thanks for your feedback!")).to_be_visible()
    expect(page.locator("#feedback").get_by_role("link", name="Contact us")).to_be_visible()
    vote = ArticleFeedback.objects.get()
    assert vote.helpful is False
    assert vote.article.title == "Reset your password"


def test_the_help_centre_fits_a_phone(browser: Any, live_server: Any, demo_articles: None,
                                      artifacts: Path) -> None:  # fmt: skip
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="fr-FR")
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/help/fr/")
        expect(page.get_by_role("link", name="Retourner un article").first).to_be_visible()
        page.screenshot(path=str(artifacts / "kb-home-390.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.goto(f"{live_server.url}/help/en/c/orders/")
        expect(page.get_by_role("heading", level=1)).to_have_text("Orders")
        page.screenshot(path=str(artifacts / "kb-category-390.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.get_by_role("link", name="My order hasn't arrived").first.click()
        expect(page.get_by_role("heading", level=1)).to_have_text("My order hasn't arrived")
        page.screenshot(path=str(artifacts / "kb-article-390.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        context.close()

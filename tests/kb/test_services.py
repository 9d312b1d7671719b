from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from kb import selectors, services
from kb.models import Article, ArticleRevision
from tests.kb.conftest import publish

pytestmark = pytest.mark.django_db


def test_it_renders_markdown_and_strips_raw_html() -> None:
    article = publish(
        "Sanitised", body="# Steps\n\nClick <script>alert(1)</script> [here](javascript:x) **now**"
    )
    assert "<script>" not in article.body_html
    assert 'href="javascript' not in article.body_html
    assert '<h2 id="h-steps">Steps</h2>' in article.body_html
    assert "<strong>now</strong>" in article.body_html


def test_an_edit_records_a_revision_and_an_unchanged_save_does_not(agent: Any) -> None:
    article = publish("Change a PIN", body="Old text.", questions=["new pin?"])
    assert article.revisions.count() == 1
    assert services.article_update(
        article=article, title="Change a PIN", body="New text.", questions=["new pin?"],
        author=agent,
    )  # fmt: skip
    assert not services.article_update(
        article=article, title="Change a PIN", body="New text.", questions=["new pin?"]
    )
    revisions = list(article.revisions.order_by("number"))
    assert [r.number for r in revisions] == [1, 2]
    assert revisions[1].author == agent
    diff = services.revision_diff(old=revisions[0], new=revisions[1])
    assert "-Old text." in diff and "+New text." in diff


def test_restore_brings_back_old_words_as_a_new_revision() -> None:
    article = publish("Close an account", body="First.", questions=["quit"])
    services.article_update(article=article, title="Close it", body="Second.", questions=[])
    first = article.revisions.get(number=1)
    assert services.article_restore_revision(revision=first)
    article.refresh_from_db()
    assert (article.title, article.body) == ("Close an account", "First.")
    assert [q.text for q in article.questions.all()] == ["quit"]
    assert article.revisions.count() == 3
    assert ArticleRevision.objects.get(article=article, number=3).note == "Restored revision 1"


def test_a_scheduled_article_appears_only_once_its_time_comes() -> None:
    article = publish("Holiday hours")
    services.article_set_status(
        article=article, status=Article.Status.PUBLISHED,
        publish_at=timezone.now() + timedelta(hours=1),
    )  # fmt: skip
    assert article not in selectors.readable_articles(AnonymousUser())
    Article.objects.filter(pk=article.pk).update(publish_at=timezone.now() - timedelta(seconds=1))
    assert article in selectors.readable_articles(AnonymousUser())


def test_drafts_and_archived_articles_are_not_readable(agent: Any) -> None:
    article = publish("Archived thing")
    services.article_set_status(article=article, status=Article.Status.ARCHIVED)
    assert article not in selectors.readable_articles(agent)


def test_translations_share_a_group_and_fall_back_to_the_default_locale() -> None:
    en = publish("Reset your password")
    fr = services.article_create(
        title="Réinitialiser votre mot de passe", body="Cliquez sur oublié.", locale="fr",
        group=en.group, status=Article.Status.PUBLISHED,
    )  # fmt: skip
    other = publish("Only in English")
    assert fr.slug == "réinitialiser-votre-mot-de-passe"
    chosen = selectors.localised(AnonymousUser(), [en.group_id, other.group_id], locale="fr")
    assert chosen[en.group_id] == fr
    assert chosen[other.group_id] == other
    with pytest.raises(services.KbError):
        services.article_create(title="Encore", body="", locale="fr", group=en.group)


def test_a_vote_again_replaces_the_readers_earlier_vote(customer: Any) -> None:
    article = publish("Votes")
    services.feedback_record(article=article, helpful=False, comment="unclear", user=customer)
    services.feedback_record(article=article, helpful=True, user=customer)
    assert selectors.vote_counts(article) == {"helpful": 1, "unhelpful": 0}
    assert article.feedback.get().comment == "unclear"


def test_a_category_path_builds_the_tree_once() -> None:
    leaf = services.category_ensure_path(path="Cards/Delivery")
    again = services.category_ensure_path(path=" Cards / Delivery ")
    assert leaf == again and leaf is not None
    assert leaf.path == "Cards/Delivery" and leaf.parent is not None
    assert leaf.parent.parent is None

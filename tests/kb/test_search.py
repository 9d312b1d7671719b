from __future__ import annotations

import json
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.test import override_settings

from kb import search
from kb.evaluation import calibrate, evaluate
from kb.importing import import_lines
from kb.models import Article, SearchClick, SearchLog
from kb.services import search_click_record
from tests.kb.conftest import EVAL_DIR, publish

pytestmark = pytest.mark.django_db
anonymous = AnonymousUser()


def top_title(query: str, **kw: Any) -> str:
    hits = search.search(user=anonymous, query=query, **kw).hits
    assert hits, query
    assert hits[0].article is not None
    return hits[0].article.title


@pytest.fixture
def small_kb(db: Any) -> dict[str, Article]:
    return {
        "password": publish(
            "Reset your password", body="Use the forgot password link on the sign-in page.",
            questions=["I can't log in"],
        ),
        "card": publish(
            "My new card hasn't arrived", body="Cards arrive within seven working days by post.",
            questions=["Where is my card?"],
        ),
        "refund": publish(
            "When will I get my refund?", body="Refunds reach your bank in 3 to 10 days.",
        ),
    }  # fmt: skip


def test_typos_and_prefixes_still_find_the_article(small_kb: dict[str, Article]) -> None:
    assert top_title("pasword resett") == "Reset your password"
    assert top_title("refnud") == "When will I get my refund?"
    assert top_title("passw", prefix=True) == "Reset your password"
    assert top_title("the postman never brought my card") == "My new card hasn't arrived"


def test_each_signal_alone_ranks_the_obvious_match_first(small_kb: dict[str, Article]) -> None:
    for signal in search.SIGNALS:
        result = search.search(user=anonymous, query="reset password", signals=(signal,))
        assert result.hits and result.hits[0].article_id == small_kb["password"].pk, signal


def test_snippets_are_escaped_and_highlighted(db: Any) -> None:
    publish("Script tags", body="Typing <script>alert(1)</script> into the refund form is blocked.")
    hit = search.search(user=anonymous, query="refund form").hits[0]
    assert "<script>" not in hit.snippet
    assert "&lt;script" in hit.snippet
    assert "<mark>refund</mark>" in hit.snippet


def test_a_search_and_its_clicks_are_logged(small_kb: dict[str, Article], client: Any) -> None:
    response = client.get("/help/en/search/?q=forgot+password")
    assert response.status_code == 200
    log = SearchLog.objects.get()
    assert log.query == "forgot password" and log.results[0] == small_kb["password"].pk
    response = client.get(f"/help/r/{log.pk}/{small_kb['password'].pk}/")
    assert response.status_code == 302
    click = SearchClick.objects.get()
    assert (click.article, click.position) == (small_kb["password"], 1)
    # an article the search did not return is not recorded as its click
    assert search_click_record(search=log, article=small_kb["card"]) is None or (
        small_kb["card"].pk in log.results
    )


def test_the_numpy_scan_follows_article_changes(small_kb: dict[str, Article]) -> None:
    from kb import services

    before = search.semantic_ranking(
        search.selectors.readable_articles(anonymous), query="holiday", backend="numpy"
    )
    services.article_update(
        article=small_kb["refund"], title="Holiday opening hours", body="Closed at Christmas.",
        questions=[],
    )  # fmt: skip
    after = search.semantic_ranking(
        search.selectors.readable_articles(anonymous), query="holiday", backend="numpy"
    )
    assert before != after
    assert after[0][0] == small_kb["refund"].pk


@override_settings(KB_VECTOR_BACKEND="numpy")
def test_the_setting_forces_the_numpy_path() -> None:
    assert search.vector_backend() == "numpy"


@override_settings(KB_VECTOR_BACKEND="pgvector")
def test_the_setting_forces_the_pgvector_path() -> None:
    assert search.vector_backend() == "pgvector"


@override_settings(KB_VECTOR_BACKEND="auto")
def test_auto_uses_pgvector_exactly_when_the_server_has_it(db: Any) -> None:
    expected = "pgvector" if search.pgvector_available() else "numpy"
    assert search.vector_backend() == expected


def test_pgvector_and_numpy_rank_the_same(eval_set: Any) -> None:
    if not search.pgvector_available():
        pytest.skip("this PostgreSQL has no pgvector extension")
    labelled, _negatives = eval_set
    base = search.selectors.readable_articles(anonymous, locale="en")
    for questions in list(labelled.values())[:10]:
        for question in questions[:4]:
            by_numpy = search.semantic_ranking(base, query=question, backend="numpy")
            by_pg = search.semantic_ranking(base, query=question, backend="pgvector")
            assert [pk for pk, _ in by_numpy] == [pk for pk, _ in by_pg], question
            for (_a, x), (_b, y) in zip(by_numpy, by_pg, strict=True):
                assert abs(x - y) <= 2e-4


def test_relevance_on_the_labelled_set_stays_above_its_floor(eval_set: Any) -> None:
    """Regression floor for tests/kb/eval (26 articles, each with two questions of its own, and
    10 customer questions each to find them). Measured when tuned: fusion 78.1% top-1, 94.2%
    top-3; the bot at its threshold answered 58.5%, 94.7% of them right, no off-topic one."""
    labelled, negatives = eval_set
    report = evaluate(labelled, negatives=negatives, backend="numpy")
    fusion = report.accuracy["fusion"].as_dict()
    assert fusion["top1"] >= 0.75
    assert fusion["top3"] >= 0.92
    assert report.accuracy["semantic"].as_dict()["top1"] >= 0.75
    assert report.accuracy["fts"].as_dict()["top3"] >= 0.75
    stats = report.bot_at(settings.KB_BOT_THRESHOLD)
    assert stats["precision"] >= 0.92
    assert stats["negatives_answered"] == 0
    assert stats["answer_rate"] >= 0.5
    assert calibrate(report, min_precision=0.92) <= settings.KB_BOT_THRESHOLD + 0.05


def test_relevance_with_five_example_questions_per_article(db: Any) -> None:
    """Few-shot: each article also carries five of its customer questions; the other five are
    asked. Measured when tuned: fusion 86.9% top-1, 95.4% top-3."""
    labelled = json.loads((EVAL_DIR / "questions.json").read_text(encoding="utf-8"))
    negatives = json.loads((EVAL_DIR / "negatives.json").read_text(encoding="utf-8"))
    lines = []
    for raw in (EVAL_DIR / "articles.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(raw)
        record["questions"] += labelled[record["external_id"]][:5]
        lines.append(json.dumps(record))
    assert all(r.action == "created" for r in import_lines(lines))
    held_out = {key: questions[5:] for key, questions in labelled.items()}
    report = evaluate(held_out, negatives=negatives)
    fusion = report.accuracy["fusion"].as_dict()
    assert fusion["top1"] >= 0.84
    assert fusion["top3"] >= 0.93
    stats = report.bot_at(settings.KB_BOT_THRESHOLD)
    assert stats["precision"] >= 0.92
    assert stats["answer_rate"] >= 0.55


def test_python_trigrams_rank_like_pg_trgm(eval_set: Any) -> None:
    if not search.pg_trgm_available():
        pytest.skip("this PostgreSQL has no pg_trgm extension")
    labelled, _negatives = eval_set
    base = search.selectors.readable_articles(anonymous, locale="en")
    for questions in list(labelled.values())[:8]:
        for question in questions[:4]:
            by_sql = search.trigram_ranking(base, query=question, backend="sql")
            by_python = search.trigram_ranking(base, query=question, backend="python")
            assert by_sql[:5] == by_python[:5], question


def test_the_trigram_signal_works_without_pg_trgm(small_kb: dict[str, Article]) -> None:
    base = search.selectors.readable_articles(anonymous)
    ranking = search.trigram_ranking(base, query="pasword resett", backend="python")
    assert ranking[0][0] == small_kb["password"].pk

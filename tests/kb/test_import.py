from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from kb.models import Article, ArticleQuestion, ArticleRevision, Category

pytestmark = pytest.mark.django_db


def line(**fields: Any) -> str:
    record = {
        "external_id": "card-1",
        "title": "My card hasn't arrived",
        "body": "Cards arrive in **5 days**.",
        "category": "Cards/Delivery",
        "locale": "en",
        "visibility": "public",
        "questions": ["Where is my card?", "Card delivery late"],
        "tags": ["cards"],
    }
    record.update(fields)
    return json.dumps(record)


def run_import(tmp_path: Path, *lines: str) -> list[str]:
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = StringIO()
    call_command("kb_import", str(path), stdout=out)
    return out.getvalue().splitlines()


def test_import_creates_then_is_idempotent_then_updates_with_a_revision(tmp_path: Path) -> None:
    assert run_import(tmp_path, line())[0].startswith("line 1: created card-1")
    article = Article.objects.get(external_id="card-1")
    assert article.status == Article.Status.PUBLISHED
    assert article.group.category == Category.objects.get(slug="delivery")
    assert [q.text for q in article.questions.all()] == ["Where is my card?", "Card delivery late"]
    assert article.embedding is not None and len(article.embedding) == 256
    assert run_import(tmp_path, line())[0].startswith("line 1: unchanged card-1")
    assert ArticleRevision.objects.filter(article=article).count() == 1
    out = run_import(tmp_path, line(body="Cards arrive in 3 days.", questions=["Where is it?"]))
    assert out[0].startswith("line 1: updated card-1")
    assert ArticleRevision.objects.filter(article=article).count() == 2
    assert list(ArticleQuestion.objects.filter(article=article).values_list("text", flat=True)) == [
        "Where is it?"
    ]
    assert Article.objects.count() == 1


def test_bad_lines_are_reported_by_number_and_skipped_whole(tmp_path: Path) -> None:
    out = run_import(
        tmp_path,
        line(external_id="ok-1"),
        "{not json",
        line(external_id="bad-vis", visibility="secret"),
        line(external_id="", title="no id"),
        "",
        line(external_id="bad-questions", questions="not a list"),
        json.dumps([1, 2]),
        line(external_id="bad-cat", category="New/Branch", translation_of="nope"),
        line(external_id="ok-2", title="Second"),
    )
    assert out[0].startswith("line 1: created ok-1")
    assert out[1].startswith("line 2: error: invalid JSON")
    assert out[2].startswith("line 3: error:") and "visibility" in out[2]
    assert out[3].startswith("line 4: error:") and "external_id" in out[3]
    assert out[4] == "line 5: skipped (blank line)"
    assert out[5].startswith("line 6: error:") and "questions" in out[5]
    assert out[6].startswith("line 7: error:")
    assert out[7].startswith("line 8: error:") and "translation_of" in out[7]
    assert out[8].startswith("line 9: created ok-2")
    assert out[9] == "done: 2 created, 0 updated, 0 unchanged, 6 error"
    assert sorted(Article.objects.values_list("external_id", flat=True)) == ["ok-1", "ok-2"]
    # the failed line 8 left no half-made category behind
    assert not Category.objects.filter(name="Branch").exists()


def test_export_writes_what_import_reads(tmp_path: Path) -> None:
    run_import(
        tmp_path,
        line(),
        line(external_id="card-1-fr", locale="fr", title="Ma carte n'est pas arrivée",
             translation_of="card-1"),
    )  # fmt: skip
    target = tmp_path / "out.jsonl"
    call_command("kb_export", str(target), stdout=StringIO())
    records = [json.loads(x) for x in target.read_text(encoding="utf-8").splitlines()]
    assert [r["external_id"] for r in records] == ["card-1", "card-1-fr"]
    assert records[0]["category"] == "Cards/Delivery"
    assert records[0]["questions"] == ["Where is my card?", "Card delivery late"]
    assert records[1]["translation_of"] == "card-1"
    out = StringIO()
    call_command("kb_import", str(target), stdout=out)
    assert "2 unchanged" in out.getvalue()
    fr = Article.objects.get(external_id="card-1-fr")
    assert fr.group_id == Article.objects.get(external_id="card-1").group_id


def test_a_missing_file_is_a_clear_error() -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="cannot read"):
        call_command("kb_import", "/nonexistent/file.jsonl")


def test_an_organisation_restricted_article_names_its_organisations(tmp_path: Path) -> None:
    from django.contrib.auth.models import AnonymousUser

    from kb import selectors
    from tests.factories import ContactFactory, OrganisationFactory, UserFactory

    acme = OrganisationFactory(name="Acme")
    out = run_import(
        tmp_path,
        line(external_id="acme-1", visibility="organisations", organisations=["Acme"]),
        line(external_id="acme-2", visibility="organisations", organisations=["Nobody Inc"]),
    )
    assert out[0].startswith("line 1: created acme-1")
    assert out[1].startswith("line 2: error:") and "Nobody Inc" in out[1]
    article = Article.objects.get(external_id="acme-1")
    assert list(article.group.organisations.all()) == [acme]
    erin = UserFactory(username="erin2", email="erin2@acme.test")
    ContactFactory(user=erin, email="erin2@acme.test", organisation=acme)
    assert article in selectors.readable_articles(erin)
    assert article not in selectors.readable_articles(AnonymousUser())
    assert run_import(
        tmp_path, line(external_id="acme-1", visibility="organisations", organisations=["Acme"])
    )[0].startswith("line 1: unchanged")
    target = tmp_path / "out.jsonl"
    call_command("kb_export", str(target), stdout=StringIO())
    assert json.loads(target.read_text(encoding="utf-8"))["organisations"] == ["Acme"]

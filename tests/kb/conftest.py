"""Knowledge-base fixtures: articles of every visibility, and the labelled evaluation set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kb import services
from kb.importing import import_lines
from kb.models import Article, Visibility
from tests.factories import OrganisationFactory

EVAL_DIR = Path(__file__).parent / "eval"


def publish(
    title: str, *, visibility: str = Visibility.PUBLIC, body: str = "", **kw: Any
) -> Article:
    return services.article_create(
        title=title,
        body=body or f"All about {title.lower()}.",
        visibility=visibility,
        status=Article.Status.PUBLISHED,
        **kw,
    )


@pytest.fixture
def acme(db: Any) -> Any:
    return OrganisationFactory(name="Acme")


@pytest.fixture
def articles(db: Any, acme: Any) -> dict[str, Article]:
    """One published article per visibility, all about refunds, plus a draft and a scheduled one."""
    found = {
        "public": publish("Refund policy for orders", body="Refunds take five days."),
        "customers": publish(
            "Refund tracker for customers", visibility=Visibility.CUSTOMERS,
            body="Signed-in customers can follow refunds.",
        ),
        "org": publish(
            "Refund contract terms for Acme", visibility=Visibility.ORGANISATIONS,
            body="Acme's refunds follow the contract.",
        ),
        "internal": publish(
            "Refund override procedure internal", visibility=Visibility.INTERNAL,
            body="Agents may force a refund with the secret override code.",
        ),
    }  # fmt: skip
    services.group_update(
        group=found["org"].group, category=None, visibility=Visibility.ORGANISATIONS,
        organisations=[acme],
    )  # fmt: skip
    found["draft"] = services.article_create(title="Refund draft notes", body="Not yet.")
    return found


@pytest.fixture
def acme_customer(acme: Any) -> Any:
    from tests.factories import ContactFactory, UserFactory

    user = UserFactory(username="erin", email="erin@acme.test")
    ContactFactory(name="Erin Acme", user=user, email="erin@acme.test", organisation=acme)
    return user


def load_eval_set() -> tuple[dict[str, list[str]], list[str]]:
    lines = (EVAL_DIR / "articles.jsonl").read_text(encoding="utf-8").splitlines()
    results = list(import_lines(lines))
    assert all(r.action == "created" for r in results), results
    labelled = json.loads((EVAL_DIR / "questions.json").read_text(encoding="utf-8"))
    negatives = json.loads((EVAL_DIR / "negatives.json").read_text(encoding="utf-8"))
    return labelled, negatives


@pytest.fixture
def eval_set(db: Any) -> tuple[dict[str, list[str]], list[str]]:
    return load_eval_set()

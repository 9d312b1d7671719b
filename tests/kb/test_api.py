from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client, override_settings
from django.urls import reverse

from kb.models import Article, SearchLog
from tests.kb.conftest import publish

pytestmark = pytest.mark.django_db
SEARCH = "/api/v1/kb/search/"
BOT = "/api/v1/bot/answer/"


@pytest.fixture(autouse=True)
def fresh_throttle() -> Any:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def kb(db: Any) -> dict[str, Article]:
    return {
        "password": publish(
            "Reset your password", body="Use the **forgot password** link on the sign-in page.",
            questions=["I can't log in", "Forgot my password"],
        ),
        "card": publish(
            "My new card hasn't arrived", body="Cards arrive within seven working days by post.",
            questions=["Where is my card?", "Card delivery is late"],
        ),
    }  # fmt: skip


def test_the_paths_are_the_public_contract() -> None:
    assert reverse("kb_api:search") == SEARCH
    assert reverse("kb_api:bot-answer") == BOT


def test_search_returns_exactly_the_contract_fields(client: Client, kb: dict[str, Article]) -> None:
    response = client.get(SEARCH, {"q": "pasword reset", "locale": "en", "limit": 5})
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["results"]
    first = body["results"][0]
    assert set(first) == {"id", "title", "url", "score", "snippet"}
    assert first["id"] == kb["password"].pk and first["title"] == "Reset your password"
    assert first["url"] == "http://testserver" + kb["password"].get_absolute_url()
    assert isinstance(first["score"], float) and first["score"] > 0
    assert len(body["results"]) <= 5
    assert SearchLog.objects.get(source="api").results[0] == kb["password"].pk


def test_search_limits_and_validates(client: Client, kb: dict[str, Article]) -> None:
    assert len(client.get(SEARCH, {"q": "card password", "limit": 1}).json()["results"]) == 1
    assert client.get(SEARCH).status_code == 400
    assert client.get(SEARCH, {"q": "x", "limit": 0}).status_code == 400
    assert client.get(SEARCH, {"q": "x", "locale": "../etc"}).status_code == 400
    assert client.get(SEARCH, {"q": "zzzzqqq"}).json() == {"results": []}


def test_the_bot_answers_a_confident_question_with_links(
    client: Client, kb: dict[str, Article]
) -> None:
    response = client.post(
        BOT, {"text": "I forgot my password and can't log in", "locale": "en"},
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"answered", "reply", "articles", "handover"}
    assert body["answered"] is True and body["handover"] is False
    assert body["articles"][0]["id"] == kb["password"].pk
    assert set(body["articles"][0]) == {"id", "title", "url"}
    assert "Reset your password" in body["reply"]


def test_the_bot_abstains_and_hands_over_when_unsure(
    client: Client, kb: dict[str, Article]
) -> None:
    for text in ("what is the capital of australia", "asdfghjkl", "tell me a joke"):
        body = client.post(BOT, {"text": text}, content_type="application/json").json()
        assert body["answered"] is False, text
        assert body["handover"] is True
        assert body["articles"] == []
        assert body["reply"]


def test_the_bot_hands_over_when_there_is_nothing_to_read(client: Client, db: Any) -> None:
    body = client.post(BOT, {"text": "reset my password"}, content_type="application/json").json()
    assert body == {**body, "answered": False, "handover": True, "articles": []}


def test_the_bot_rejects_a_bad_body(client: Client, db: Any) -> None:
    assert client.post(BOT, {}, content_type="application/json").status_code == 400
    assert client.post(BOT, {"text": ""}, content_type="application/json").status_code == 400


@override_settings(HELPDESK_PUBLIC_API_RATE=3)
def test_both_endpoints_are_rate_limited_per_client(client: Client, kb: dict[str, Article]) -> None:
    codes = [client.get(SEARCH, {"q": "card"}).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    other = Client(REMOTE_ADDR="10.0.0.9")
    assert other.get(SEARCH, {"q": "card"}).status_code == 200
    codes = [
        client.post(BOT, {"text": "card"}, content_type="application/json").status_code
        for _ in range(4)
    ]
    assert codes == [200, 200, 200, 429]


@override_settings(HELPDESK_PUBLIC_API_RATE=0)
def test_a_rate_of_zero_turns_the_limit_off(client: Client, kb: dict[str, Article]) -> None:
    assert all(client.get(SEARCH, {"q": "card"}).status_code == 200 for _ in range(70))

"""The widget's HTTP endpoints (cross-origin, token-bound) and the agents' chat inbox pages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from channels_in.models import ChannelAccount, ChatConversation
from tests.channels_in.chat_support import (
    FAST_HASHERS,
    SITE,
    clear_presence,
    go_online,
    make_chat_account,
    say,
    start,
)
from tests.conftest import client_for
from tickets.models import Ticket

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = FAST_HASHERS


@pytest.fixture(autouse=True)
def presence() -> Iterator[None]:
    clear_presence()
    yield
    clear_presence()


@pytest.fixture
def account(support: Any) -> ChannelAccount:
    return make_chat_account(group=support, title="Acme help")


def test_the_widget_config_answers_allowed_origins_only(
    account: ChannelAccount, agent: Any
) -> None:
    response = Client().get("/channels/chat/web/config/", HTTP_ORIGIN=SITE)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == SITE
    assert response["Access-Control-Allow-Credentials"] == "true"
    data = response.json()
    assert (data["title"], data["online"], data["reason"]) == ("Acme help", False, "no_agents")
    go_online(agent)
    assert Client().get("/channels/chat/web/config/", HTTP_ORIGIN=SITE).json()["online"] is True
    refused = Client().get("/channels/chat/web/config/", HTTP_ORIGIN="https://evil.test")
    assert refused.status_code == 403 and "Access-Control-Allow-Origin" not in refused
    assert Client().get("/channels/chat/nope/config/").status_code == 404


def test_a_preflight_allows_the_json_post(account: ChannelAccount) -> None:
    response = Client().options(
        "/channels/chat/web/session/", HTTP_ORIGIN=SITE, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST"
    )
    assert response.status_code == 204
    assert "Content-Type" in response["Access-Control-Allow-Headers"]


def test_a_session_gives_a_signed_token_and_recognises_it_later(account: ChannelAccount) -> None:
    client = Client()
    response = client.post(
        "/channels/chat/web/session/",
        json.dumps({"name": "Vera", "email": "Vera@Example.test", "page": f"{SITE}/pricing"}),
        content_type="application/json",
        HTTP_ORIGIN=SITE,
    )
    assert response.status_code == 200
    data = response.json()
    assert data["email"] == "vera@example.test" and data["ws"] == "/ws/chat/web/"
    conversation = ChatConversation.objects.get(pk=data["conversation"])
    assert conversation.page_url == f"{SITE}/pricing"
    # the same browser, by cookie (a same-site embed) or by the token it kept
    again = client.post(
        "/channels/chat/web/session/", "{}", content_type="application/json", HTTP_ORIGIN=SITE
    ).json()
    assert again["conversation"] == conversation.pk
    by_token = (
        Client()
        .post(
            "/channels/chat/web/session/",
            json.dumps({"token": data["token"]}),
            content_type="application/json",
            HTTP_ORIGIN=SITE,
        )
        .json()
    )
    assert by_token["conversation"] == conversation.pk
    bad = Client().post(
        "/channels/chat/web/session/",
        json.dumps({"email": "nope"}),
        content_type="application/json",
        HTTP_ORIGIN=SITE,
    )
    assert bad.status_code == 400 and bad.json()["field"] == "email"


def test_a_visitor_uploads_a_file_only_to_their_own_conversation(
    account: ChannelAccount, agent: Any
) -> None:
    go_online(agent)
    session = start(account)
    upload = SimpleUploadedFile("error.png", b"\x89PNG-screenshot", content_type="image/png")
    response = Client().post(
        "/channels/chat/web/upload/",
        {"token": session.token, "client_id": "f1", "file": upload},
        HTTP_ORIGIN=SITE,
    )
    assert response.status_code == 200 and response.json()["seq"] == 1
    ticket = Ticket.objects.get(
        pk=ChatConversation.objects.get(pk=session.conversation.pk).ticket_id
    )
    attachment = ticket.messages.get().attachments.get()
    assert attachment.filename == "error.png"
    from channels_in.chat.selectors import lines_after

    [line] = lines_after(session.conversation.pk, 0)
    download = Client().get(line["attachments"][0]["url"])
    assert (
        download.status_code == 200
        and b"".join(download.streaming_content) == b"\x89PNG-screenshot"
    )
    assert "attachment" in download["Content-Disposition"]
    assert Client().get("/channels/chat/file/forged-token/").status_code == 404
    nobody = Client().post(
        "/channels/chat/web/upload/",
        {"token": "made-up", "file": SimpleUploadedFile("x.txt", b"x")},
        HTTP_ORIGIN=SITE,
    )
    assert nobody.status_code == 400


def test_the_inbox_is_for_agents(account: ChannelAccount, agent: Any, customer: Any) -> None:
    assert client_for(customer).get("/channels/chat/inbox/").status_code == 403
    assert Client().get("/channels/chat/inbox/").status_code == 302  # to the login page
    go_online(agent)
    session = start(account, name="Vera")
    say(account, session.conversation, "Is there a student discount?")
    page = client_for(agent).get("/channels/chat/inbox/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Vera" in html and "Is there a student discount?" in html
    assert "js/chat-inbox.js" in html and "<script>" not in html


def test_agents_accept_transfer_and_end_from_the_inbox(
    account: ChannelAccount, agent: Any, other_agent: Any, billing: Any, supervisor: Any
) -> None:
    go_online(agent)
    session = start(account, name="Vera")
    say(account, session.conversation, "Hello?")
    pk = session.conversation.pk
    desk = client_for(agent)
    pane = desk.get(f"/channels/chat/inbox/{pk}/").content.decode()
    assert "Accept" in pane and "Hello?" in pane
    assert client_for(other_agent).get(f"/channels/chat/inbox/{pk}/").status_code == 404

    accepted = desk.post(f"/channels/chat/inbox/{pk}/accept/", HTTP_HX_REQUEST="true")
    assert "joined the chat" in accepted.content.decode()
    conversation = ChatConversation.objects.get(pk=pk)
    assert (conversation.status, conversation.agent_id) == ("active", agent.pk)

    refused = desk.post(
        f"/channels/chat/inbox/{pk}/transfer/",
        {"to": f"agent:{other_agent.pk}"},
        HTTP_HX_REQUEST="true",
    )
    assert "not a member" in refused.content.decode()  # Bob is not in Support
    desk.post(
        f"/channels/chat/inbox/{pk}/transfer/",
        {"to": f"group:{billing.pk}"},
        HTTP_HX_REQUEST="true",
    )
    assert Ticket.objects.get(pk=conversation.ticket_id).group_id == billing.pk

    ended = client_for(supervisor).post(f"/channels/chat/inbox/{pk}/end/")
    assert ended.status_code == 302 and ended["Location"].endswith(f"?c={pk}")
    assert ChatConversation.objects.get(pk=pk).status == "ended"
    assert Ticket.objects.get(pk=conversation.ticket_id).status == "solved"


def test_the_demo_page_embeds_the_widget_with_one_script_tag(account: ChannelAccount) -> None:
    html = Client().get("/channels/chat/demo/").content.decode()
    assert 'src="/static/js/chat-widget.js" data-account="web"' in html
    assert "<script>" not in html


def test_chat_end_is_refused_to_agents_who_cannot_see_the_chat(
    account: ChannelAccount, agent: Any, other_agent: Any
) -> None:
    go_online(agent)
    session = start(account)
    say(account, session.conversation, "hi")
    response = client_for(other_agent).post(f"/channels/chat/inbox/{session.conversation.pk}/end/")
    assert response.status_code == 404
    assert ChatConversation.objects.get(pk=session.conversation.pk).status != "ended"

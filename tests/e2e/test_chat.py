"""A chat visitor talks to an agent: two browsers, the widget on a plain page of another site,
the agent in the desk's chat inbox, both sides live over websockets."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from channels_in.models import ChannelAccount, ChannelKind, ChatConversation
from tests.channels_in.chat_support import clear_presence
from tests.e2e.conftest import local_only, login
from tickets.models import Ticket

pytestmark = pytest.mark.e2e

PLAIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Bloom &amp; Co. garden shop</title></head>
<body>
  <h1>Bloom &amp; Co.</h1>
  <p>Tulip bulbs, seeds and tools. Questions? Chat with us.</p>
  <script src="{desk}/static/js/chat-widget.js" data-account="web" async></script>
</body></html>"""


@pytest.fixture
def shop_site(asgi_server: str) -> Iterator[str]:
    """Somebody else's website: one static page that embeds the widget with its script tag,
    under a strict policy of its own that admits the desk's origin as the README says."""
    body = PLAIN_PAGE.format(desk=asgi_server).encode()
    desk_ws = asgi_server.replace("http://", "ws://", 1)
    policy = (
        f"default-src 'none'; script-src {asgi_server}; style-src {asgi_server}; "
        f"img-src {asgi_server}; connect-src {asgi_server} {desk_ws}; base-uri 'none'"
    )

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Security-Policy", policy)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _nobody_online() -> Iterator[None]:
    clear_presence()
    yield
    clear_presence()


def test_a_visitor_and_an_agent_chat_live(
    browser: Any, asgi_server: str, shop_site: str, agent: Any, support: Any, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    ChannelAccount.objects.create(
        kind=ChannelKind.CHAT,
        name="web",
        group=support,
        config={
            "allowed_origins": [shop_site],
            "title": "Bloom & Co.",
            "welcome": "Hello! Ask us anything.",
        },
    )
    desk_context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB")
    shop_context = browser.new_context(viewport={"width": 1100, "height": 760}, locale="en-GB")
    # the shop page is another origin on purpose, but still 127.0.0.1: nothing may come from
    # a host outside this machine, in either browser
    foreign = [local_only(context) for context in (desk_context, shop_context)]
    for context in (desk_context, shop_context):
        context.set_default_timeout(15_000)
    try:
        desk = desk_context.new_page()
        login(desk, asgi_server, agent.email)
        desk.goto(f"{asgi_server}/channels/chat/inbox/")
        expect(desk.locator("#chat-socket")).to_have_attribute("data-state", "open")

        shop = shop_context.new_page()
        shop.goto(shop_site)
        shop.locator(".hd-launcher").click()
        expect(shop.locator(".hd-status")).to_have_text("We're online")
        expect(shop.locator(".hd-intro")).to_have_text("Hello! Ask us anything.")
        shop.screenshot(path=str(artifacts / "chat-widget-prechat.png"))
        shop.get_by_label("Your name").fill("Vera Visitor")
        shop.get_by_label("Email").fill("vera@example.test")
        shop.get_by_role("button", name="Start chat").click()
        shop.get_by_label("Message").fill("Hello, do you ship tulip bulbs to Norway?")
        shop.get_by_label("Message").press("Enter")
        expect(shop.locator(".hd-line-visitor")).to_have_text(
            "Hello, do you ship tulip bulbs to Norway?"
        )

        # the waiting chat appears in the agent's inbox by itself
        waiting = desk.locator(".chat-item-waiting", has_text="Vera Visitor")
        expect(waiting).to_be_visible()
        waiting.click()
        expect(desk.locator("#chat-lines")).to_contain_text("do you ship tulip bulbs")
        desk.get_by_role("button", name="Accept").click()
        expect(shop.locator(".hd-status")).to_contain_text("is here to help")
        expect(shop.locator(".hd-line-system")).to_contain_text("joined the chat")

        desk.locator("#chat-reply-text").fill("Hi Vera! Yes, we ship to Norway within 5 days.")
        desk.locator("#chat-reply-text").press("Enter")
        expect(shop.locator(".hd-line-agent")).to_contain_text("we ship to Norway")

        shop.get_by_label("Message").press_sequentially("Great, and the")
        expect(desk.locator("#chat-typing")).to_be_visible()
        shop.get_by_label("Message").fill("Great! What does shipping cost?")
        shop.get_by_label("Message").press("Enter")
        expect(desk.locator("#chat-lines")).to_contain_text("What does shipping cost?")
        expect(desk.locator("#chat-typing")).to_be_hidden()

        shop.screenshot(path=str(artifacts / "chat-widget.png"))
        desk.screenshot(path=str(artifacts / "chat-inbox.png"))

        # a reload restores the conversation from the server, each line once
        shop.reload()
        shop.locator(".hd-launcher").click()
        expect(shop.locator(".hd-line-agent")).to_have_count(1)
        expect(shop.locator(".hd-line-visitor")).to_have_count(2)

        desk.once("dialog", lambda dialog: dialog.accept())
        desk.get_by_role("button", name="End chat").click()
        expect(shop.locator(".hd-status")).to_have_text("Chat ended")
        expect(shop.locator(".hd-line-system").last).to_have_text("The chat has ended.")
    finally:
        desk_context.close()
        shop_context.close()

    assert not any(foreign), f"pages loaded from another host: {foreign}"
    conversation = ChatConversation.objects.get()
    assert (conversation.status, conversation.agent_id) == ("ended", agent.pk)
    ticket = Ticket.objects.get(pk=conversation.ticket_id)
    assert ticket.channel == "chat" and ticket.status == "solved"
    assert list(ticket.messages.values_list("kind", flat=True)) == ["customer", "reply", "customer"]
    assert ticket.contact.identities.filter(kind="email", value="vera@example.test").exists()

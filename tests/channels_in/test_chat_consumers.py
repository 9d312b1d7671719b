"""The chat websockets through the real ASGI application and the real Redis channel layer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client

from channels_in.models import ChannelAccount, ChatConversation, ChatLine
from tests.channels_in.chat_support import (
    FAST_HASHERS,
    clear_presence,
    ensure_roles,
    make_chat_account,
    start,
)
from tickets.models import Ticket

pytestmark = pytest.mark.django_db(transaction=True)

SITE = "http://localhost:3000"  # passes the project's host check; the account allows it
HOST = b"testserver"
Frame = dict[str, Any]


@pytest.fixture(autouse=True)
def fast_passwords(settings: Any, transactional_db: Any) -> None:
    settings.PASSWORD_HASHERS = FAST_HASHERS
    ensure_roles()


@pytest.fixture(autouse=True)
def no_one_online() -> Iterator[None]:
    clear_presence()
    yield
    clear_presence()


@pytest.fixture(autouse=True)
def fresh_channel_layer() -> Iterator[None]:
    """Each test runs its own event loop; the layer keeps locks bound to the loop it first
    ran on, so each test gets a layer of its own."""
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def account(support: Any) -> ChannelAccount:
    return make_chat_account(group=support, allowed_origins=[SITE])


class Socket(WebsocketCommunicator):
    """A communicator that lets the consumer finish its disconnect work (database writes,
    pushes to other sockets) instead of cancelling it after Channels' default of 1 s. On a
    loaded machine a handler cancelled mid-way leaves its sync thread waiting on this test's
    event loop, and the loop then hangs at shutdown."""

    async def disconnect(self, code: int = 1000, timeout: float = 10) -> None:
        await super().disconnect(code, timeout)


def app() -> Any:
    from helpdesk.asgi import application

    return application


def visitor_socket(account: ChannelAccount, origin: str = SITE) -> WebsocketCommunicator:
    return Socket(
        app(), f"/ws/chat/{account.name}/", headers=[(b"origin", origin.encode()), (b"host", HOST)]
    )


def login_cookie(user: Any) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def agent_socket(cookie: bytes) -> WebsocketCommunicator:
    return Socket(
        app(),
        "/ws/chat/agent/",
        headers=[(b"origin", b"http://localhost"), (b"host", HOST), (b"cookie", cookie)],
    )


async def until(
    socket: WebsocketCommunicator, done: Callable[[list[Frame]], bool], timeout: float = 5.0
) -> list[Frame]:
    """Frames received until `done(frames)` holds."""
    frames: list[Frame] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not done(frames):
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AssertionError(f"timed out; got {frames}")
        frames.append(await socket.receive_json_from(timeout=remaining))
    return frames


def has(kind: str, **fields: Any) -> Callable[[list[Frame]], bool]:
    return lambda frames: any(
        f.get("type") == kind and all(f.get(k) == v for k, v in fields.items()) for f in frames
    )


def first(frames: list[Frame], kind: str, **fields: Any) -> Frame:
    return next(
        f for f in frames if f.get("type") == kind and all(f.get(k) == v for k, v in fields.items())
    )


async def hello(
    socket: WebsocketCommunicator, token: str, conversation: int | None = None, last_seq: int = 0
) -> list[Frame]:
    connected, _ = await socket.connect()
    assert connected
    await socket.send_json_to(
        {"type": "hello", "token": token, "conversation": conversation, "last_seq": last_seq}
    )
    return await until(socket, has("welcome"))


def test_it_carries_a_conversation_both_ways_live(account: ChannelAccount, agent: Any) -> None:
    session = start(account, name="Vera")
    conversation_id = session.conversation.pk
    cookie = login_cookie(agent)

    async def scenario() -> None:
        desk = agent_socket(cookie)
        assert (await desk.connect())[0]
        visitor = visitor_socket(account)
        welcome = first(await hello(visitor, session.token), "welcome")
        assert welcome["online"] is True and welcome["conversation"] == conversation_id

        await visitor.send_json_to({"type": "message", "client_id": "c1", "text": "Hi there"})
        frames = await until(visitor, lambda f: has("ack")(f) and has("message", seq=1)(f))
        assert first(frames, "ack")["seq"] == 1
        assert first(frames, "message")["client_id"] == "c1"
        await until(desk, has("inbox.changed"))  # the waiting chat shows up in the inbox

        await desk.send_json_to({"type": "watch", "conversation": conversation_id, "last_seq": 0})
        history = first(await until(desk, has("history")), "history")
        assert [line["text"] for line in history["lines"]] == ["Hi there"]

        await visitor.send_json_to({"type": "typing", "on": True})
        assert first(await until(desk, has("typing")), "typing")["on"] is True

        await desk.send_json_to(
            {
                "type": "reply",
                "conversation": conversation_id,
                "text": "Hello Vera, how can I help?",
                "client_id": "a1",
            }
        )
        frames = await until(visitor, has("message", seq=3))
        agent_line = first(frames, "message", seq=3)
        assert agent_line["from"] == "agent" and agent_line["agent"]["name"]
        assert first(frames, "status", status="active")["agent"]  # the reply accepted the chat
        assert first(frames, "message", seq=2)["from"] == "system"
        await until(desk, has("ack", client_id="a1"))

        await desk.send_json_to({"type": "typing", "conversation": conversation_id, "on": True})
        assert first(await until(visitor, has("typing")), "typing")["from"] == "agent"
        await visitor.disconnect()

        # back after a dropped connection, having seen line 1: lines 2 and 3, once each
        again = visitor_socket(account)
        frames = await hello(again, session.token, conversation_id, last_seq=1)
        frames += await until(again, lambda f: has("message", seq=3)(f))
        assert [f["seq"] for f in frames if f["type"] == "message"] == [2, 3]
        await again.disconnect()
        await desk.disconnect()

    asyncio.run(scenario())
    ticket = Ticket.objects.get(pk=ChatConversation.objects.get(pk=conversation_id).ticket_id)
    assert ticket.assignee_id == agent.pk and ticket.channel == "chat"
    assert list(ticket.messages.values_list("kind", flat=True)) == ["customer", "reply"]


def test_a_visitor_never_reaches_another_conversation(
    account: ChannelAccount, agent: Any, support: Any
) -> None:
    alice = start(account, name="Alice")
    bob = start(account, name="Bob")
    elsewhere = make_chat_account(group=support, name="elsewhere", allowed_origins=[SITE])
    cookie = login_cookie(agent)

    async def scenario() -> None:
        desk = agent_socket(cookie)
        assert (await desk.connect())[0]
        a, b = visitor_socket(account), visitor_socket(account)
        await hello(a, alice.token)
        await hello(b, bob.token)
        await a.send_json_to({"type": "message", "client_id": "a1", "text": "Alice's secret"})
        await until(a, has("ack"))
        assert await b.receive_nothing(timeout=0.5)  # Bob's socket hears nothing of it

        forged = visitor_socket(account)
        assert (await forged.connect())[0]
        await forged.send_json_to({"type": "hello", "token": alice.token[:-3] + "abc"})
        assert first(await until(forged, has("error")), "error")["code"] == "no_session"
        assert (await forged.receive_output(timeout=2))["code"] == 4401

        other_account = visitor_socket(elsewhere)  # a token is only good on its own account
        assert (await other_account.connect())[0]
        await other_account.send_json_to({"type": "hello", "token": alice.token})
        assert first(await until(other_account, has("error")), "error")["code"] == "no_session"

        early = visitor_socket(account)
        assert (await early.connect())[0]
        await early.send_json_to({"type": "message", "client_id": "x", "text": "no hello"})
        assert first(await until(early, has("error")), "error")["code"] == "hello_first"
        for socket in (a, b, early, desk):
            await socket.disconnect()

    asyncio.run(scenario())
    assert ChatLine.objects.filter(conversation=bob.conversation).count() == 0


def test_it_refuses_origins_the_account_does_not_allow(account: ChannelAccount) -> None:
    async def scenario() -> None:
        other_site = visitor_socket(account, origin="http://localhost:4000")
        connected, code = await other_site.connect()
        assert (connected, code) == (False, 4403)
        unknown = Socket(
            app(), "/ws/chat/nope/", headers=[(b"origin", SITE.encode()), (b"host", HOST)]
        )
        assert (await unknown.connect()) == (False, 4404)
        await unknown.disconnect()

    asyncio.run(scenario())


def test_it_limits_message_rate_and_frame_size(support: Any, agent: Any) -> None:
    account = make_chat_account(
        group=support,
        allowed_origins=[SITE],
        rate_limit_messages=3,
        rate_limit_seconds=60,
        max_frame_bytes=600,
        max_message_chars=300,
    )
    session = start(account)
    from channels_in.chat.presence import agent_heartbeat

    agent_heartbeat(user_id=agent.pk, socket="test")

    async def scenario() -> None:
        visitor = visitor_socket(account)
        await hello(visitor, session.token)
        for n in range(4):
            await visitor.send_json_to(
                {"type": "message", "client_id": f"m{n}", "text": f"msg {n}"}
            )
        frames = await until(visitor, lambda f: sum(x["type"] in ("ack", "error") for x in f) >= 4)
        assert [f["client_id"] for f in frames if f["type"] == "ack"] == ["m0", "m1", "m2"]
        assert first(frames, "error")["code"] == "rate_limited"

        await visitor.send_json_to({"type": "message", "client_id": "long", "text": "x" * 400})
        assert first(await until(visitor, has("error")), "error")["code"] == "too_long"

        await visitor.send_to(text_data=json.dumps({"type": "message", "text": "y" * 1000}))
        assert first(await until(visitor, has("error")), "error")["code"] == "too_large"
        assert (await visitor.receive_output(timeout=2))["code"] == 1009

    asyncio.run(scenario())
    assert ChatLine.objects.count() == 3


def test_only_agents_who_may_see_a_chat_can_watch_or_answer_it(
    account: ChannelAccount, agent: Any, other_agent: Any, customer: Any
) -> None:
    from channels_in.chat.presence import agent_heartbeat

    agent_heartbeat(user_id=agent.pk, socket="test")
    session = start(account)
    from tests.channels_in.chat_support import say

    say(account, session.conversation, "hello")
    customer_cookie, billing_cookie = login_cookie(customer), login_cookie(other_agent)

    async def scenario() -> None:
        stranger = agent_socket(customer_cookie)
        assert (await stranger.connect()) == (False, 4403)
        await stranger.disconnect()
        billing = agent_socket(billing_cookie)  # Billing sees none of Support's chats
        assert (await billing.connect())[0]
        await billing.send_json_to({"type": "watch", "conversation": session.conversation.pk})
        assert first(await until(billing, has("error")), "error")["code"] == "not_found"
        await billing.send_json_to(
            {
                "type": "reply",
                "conversation": session.conversation.pk,
                "text": "I should not",
                "client_id": "z",
            }
        )
        assert first(await until(billing, has("error")), "error")["code"] == "not_found"
        await billing.disconnect()

    asyncio.run(scenario())
    assert (
        not Ticket.objects.get(
            pk=ChatConversation.objects.get(pk=session.conversation.pk).ticket_id
        )
        .messages.filter(kind="reply")
        .exists()
    )


def test_with_nobody_online_the_widget_asks_for_an_email_and_files_a_ticket(
    account: ChannelAccount,
) -> None:
    anonymous = start(account, name="Nina")
    with_email = start(account, name="Omar", email="omar@example.test")

    async def scenario() -> None:
        nina = visitor_socket(account)
        assert first(await hello(nina, anonymous.token), "welcome")["online"] is False
        await nina.send_json_to({"type": "message", "client_id": "n1", "text": "Hello?"})
        error = first(await until(nina, has("error")), "error")
        assert (error["code"], error["client_id"]) == ("email_required", "n1")

        omar = visitor_socket(account)
        await hello(omar, with_email.token)
        await omar.send_json_to({"type": "message", "client_id": "o1", "text": "Call me back"})
        frames = await until(omar, lambda f: has("ack")(f) and has("status")(f))
        assert first(frames, "status")["status"] == "offline"
        for socket in (nina, omar):
            await socket.disconnect()

    asyncio.run(scenario())
    assert not ChatConversation.objects.get(pk=anonymous.conversation.pk).ticket_id
    ticket = Ticket.objects.get(
        pk=ChatConversation.objects.get(pk=with_email.conversation.pk).ticket_id
    )
    assert ticket.channel == "email"  # answered by email, to the address Omar left


def test_the_widget_embeds_on_a_customer_site_while_desk_sockets_stay_home(
    support: Any, agent: Any
) -> None:
    """A shop at another domain may open the visitor socket (its account allows it); the
    agents' sockets refuse any origin outside ALLOWED_HOSTS."""
    shop = "https://shop.example"
    account = make_chat_account(group=support, name="shop", allowed_origins=[shop])
    cookie = login_cookie(agent)

    async def scenario() -> None:
        visitor = visitor_socket(account, origin=shop)
        assert (await visitor.connect())[0]
        await visitor.disconnect()
        for route in ("/ws/desk/", "/ws/chat/agent/"):
            foreign = Socket(
                app(),
                route,
                headers=[(b"origin", shop.encode()), (b"host", HOST), (b"cookie", cookie)],
            )
            connected, _code = await foreign.connect()
            assert not connected, route
            # The refused consumer stays on its channel-layer read. Cancelled by asyncio.run's
            # shutdown, that Redis read could hang the loop; cancel it here, in the loop.
            await foreign.disconnect(timeout=2)

    asyncio.run(scenario())

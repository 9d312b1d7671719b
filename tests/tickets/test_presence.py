"""Presence on a ticket through the real ASGI app, the real channel layer and real Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from tests.channels_in.chat_support import ensure_roles
from tests.factories import ContactFactory, make_ticket
from tickets import presence
from tickets.models import Ticket

pytestmark = pytest.mark.django_db(transaction=True)
Frame = dict[str, Any]


@pytest.fixture(autouse=True)
def roles(transactional_db: Any) -> None:
    ensure_roles()


@pytest.fixture(autouse=True)
def fresh_channel_layer() -> Iterator[None]:
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


def rename(user: Any, first: str, last: str = "") -> None:
    user.first_name, user.last_name = first, last
    user.save(update_fields=["first_name", "last_name"])


@pytest.fixture(autouse=True)
def named(agent: Any) -> None:
    rename(agent, "ada")


@pytest.fixture
def ticket(support: Any) -> Ticket:
    return make_ticket(group=support, contact=ContactFactory(), subject="Shared")


def cookie(user: Any) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def socket(user_cookie: bytes) -> WebsocketCommunicator:
    from helpdesk.asgi import application

    return WebsocketCommunicator(
        application,
        "/ws/desk/",
        headers=[(b"origin", b"http://localhost"), (b"cookie", user_cookie)],
    )


async def until(ws: WebsocketCommunicator, done: Callable[[Frame], bool]) -> Frame:
    deadline = time.monotonic() + 5
    while True:
        frame = await ws.receive_json_from(timeout=max(0.1, deadline - time.monotonic()))
        if done(frame):
            return frame


def names(frame: Frame) -> list[str]:
    return [v["name"] for v in frame["viewers"]]


def presence_with(*wanted: str) -> Callable[[Frame], bool]:
    return lambda f: f.get("type") == "presence" and sorted(names(f)) == sorted(wanted)


def test_two_agents_see_each_other_and_who_types(ticket: Ticket, agent: Any, support: Any) -> None:
    from tests.factories import make_agent

    colleague = make_agent("cleo", groups=[support])
    rename(colleague, "Cleo", "Park")
    ada, cleo = cookie(agent), cookie(colleague)

    async def scenario() -> None:
        one, two = socket(ada), socket(cleo)
        try:
            assert (await one.connect())[0] and (await two.connect())[0]
            await one.send_json_to({"type": "presence.join", "ticket": ticket.number})
            await until(one, presence_with("ada"))
            await two.send_json_to({"type": "presence.join", "ticket": ticket.number})
            seen = await until(one, presence_with("ada", "Cleo Park"))
            cleo_entry = next(v for v in seen["viewers"] if v["name"] == "Cleo Park")
            assert cleo_entry["initials"] == "CP" and cleo_entry["typing"] == ""
            await until(two, presence_with("ada", "Cleo Park"))

            await two.send_json_to(
                {"type": "presence.typing", "ticket": ticket.number, "mode": "note"}
            )
            typing = await until(
                one,
                lambda f: f.get("type") == "presence" and any(v["typing"] for v in f["viewers"]),
            )
            assert {v["name"]: v["typing"] for v in typing["viewers"]} == {
                "ada": "",
                "Cleo Park": "note",
            }

            await two.disconnect()
            await until(one, presence_with("ada"))
        finally:
            await one.disconnect()

    asyncio.run(scenario())


def test_an_agent_who_cannot_see_the_ticket_does_not_join(
    ticket: Ticket, agent: Any, other_agent: Any
) -> None:
    ada, bob = cookie(agent), cookie(other_agent)

    async def scenario() -> None:
        one, outsider = socket(ada), socket(bob)
        try:
            assert (await one.connect())[0] and (await outsider.connect())[0]
            await one.send_json_to({"type": "presence.join", "ticket": ticket.number})
            await until(one, presence_with("ada"))
            await outsider.send_json_to({"type": "presence.join", "ticket": ticket.number})
            denied = await until(outsider, lambda f: f.get("type") == "presence.denied")
            assert denied["ticket"] == ticket.number
            # bob neither shows up for ada nor hears ada typing
            await one.send_json_to(
                {"type": "presence.typing", "ticket": ticket.number, "mode": "reply"}
            )
            await until(one, lambda f: f.get("type") == "presence" and f["viewers"][0]["typing"])
            assert await outsider.receive_nothing(timeout=0.5)
        finally:
            await one.disconnect()
            await outsider.disconnect()

    asyncio.run(scenario())


def test_a_killed_tab_expires_from_the_list(ticket: Ticket) -> None:
    async def scenario() -> list[str]:
        redis = presence.connect()
        try:
            await redis.delete(f"presence:ticket:{ticket.pk}")
            now = time.time()
            gone = presence.Viewer(id=1, name="Gone Tab", initials="GT", typing="")
            here = presence.Viewer(id=2, name="Here", initials="HE", typing="reply")
            await presence.presence_touch(
                redis, ticket_id=ticket.pk, channel="a", viewer=gone, now=now - 60
            )
            await presence.presence_touch(redis, ticket_id=ticket.pk, channel="b", viewer=here)
            viewers = await presence.presence_list(redis, ticket_id=ticket.pk, now=now)
            left = await redis.hkeys(f"presence:ticket:{ticket.pk}")
            assert left == [b"b"]  # the expired entry was removed, not just skipped
            return [v.name for v in viewers]
        finally:
            await redis.aclose()

    assert asyncio.run(scenario()) == ["Here"]
    assert settings.REDIS_URL

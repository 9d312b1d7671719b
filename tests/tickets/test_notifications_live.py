"""The bell rings live over the desk socket, and the email leaves through a real worker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.core import mail
from django.test import Client

from tests.channels_in.chat_support import ensure_roles
from tests.factories import ContactFactory, make_agent, make_ticket
from tickets import services
from tickets.models import Notification

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def roles(transactional_db: Any) -> None:
    ensure_roles()


@pytest.fixture(autouse=True)
def fresh_channel_layer() -> Iterator[None]:
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


def test_an_assignment_rings_the_assignees_bell_live(agent: Any, support: Any) -> None:
    from helpdesk.asgi import application

    cleo = make_agent("cleo", groups=[support])
    ticket = make_ticket(group=support, contact=ContactFactory())
    client = Client()
    client.force_login(cleo)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()

    async def scenario() -> dict[str, Any]:
        ws = WebsocketCommunicator(
            application,
            "/ws/desk/",
            headers=[(b"origin", b"http://localhost"), (b"cookie", cookie)],
        )
        try:
            assert (await ws.connect())[0]
            await sync_to_async(services.ticket_assign)(ticket=ticket, agent=cleo, actor=agent)
            deadline = time.monotonic() + 5
            while True:
                frame = await ws.receive_json_from(timeout=max(0.1, deadline - time.monotonic()))
                if frame.get("type") == "notification":
                    return frame
        finally:
            await ws.disconnect()

    frame = asyncio.run(scenario())
    # the new ticket in her group came first (before she connected); now the assignment
    assert frame == {"type": "notification", "unread": 2}
    assert Notification.objects.filter(recipient=cleo, read_at__isnull=True).count() == 2


def test_the_email_is_queued_after_commit_and_sent_by_the_worker(
    live_worker: Any, agent: Any, support: Any
) -> None:
    cleo = make_agent("cleo", groups=[support])
    ticket = make_ticket(group=support, contact=ContactFactory())
    mail.outbox.clear()
    services.ticket_assign(ticket=ticket, agent=cleo, actor=agent)

    deadline = time.monotonic() + 15
    while not mail.outbox and time.monotonic() < deadline:
        time.sleep(0.1)
    assigned = [m for m in mail.outbox if m.to == [cleo.email]]
    assert len(assigned) == 1 and f"#{ticket.number}" in assigned[0].subject
    # the worker stamps the row in the transaction it sends from: wait for its commit
    stamped = Notification.objects.filter(recipient=cleo, kind="assigned", emailed_at__isnull=False)
    while not stamped.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert stamped.count() == 1

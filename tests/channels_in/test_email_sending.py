"""Replies leave by the account's own SMTP server or its ESP (django-anymail), and every
failure is sorted into "try again" or "give up, show it on the ticket"."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
import responses

from channels_in.email.smtp import InboundController, free_port
from channels_in.errors import DeliveryError
from channels_in.models import ChannelAccount, InboundMessage, OutboundDelivery
from channels_in.services import delivery_send
from tests.channels_in.mailtools import email_account, ingest, make_mail
from tickets import services
from tickets.models import Ticket, TicketEvent


@pytest.fixture
def smtp_server() -> Iterator[InboundController]:
    """A real SMTP server to send to: our own listener, which accepts mail for known accounts."""
    controller = InboundController(hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


def reply_delivery(box: ChannelAccount, agent: Any, *, sender: str) -> OutboundDelivery:
    ticket = Ticket.objects.get(pk=ingest(box, make_mail(sender=sender)).ticket_id)
    reply = services.ticket_reply(ticket=ticket, author=agent, text="We are on it.")
    return OutboundDelivery.objects.get(message=reply)


@pytest.mark.django_db(transaction=True)
def test_a_reply_leaves_through_the_accounts_own_smtp_server(
    support: Any, agent: Any, smtp_server: InboundController
) -> None:
    box = email_account(
        group=support,
        config={"smtp": {"host": "127.0.0.1", "port": smtp_server.port, "starttls": False}},
    )
    # the customer's side of the wire is a mailbox our listener knows
    customer_side = email_account(name="customer-side", address="pat@customer.test")
    delivery = delivery_send(delivery_id=reply_delivery(box, agent, sender="pat@customer.test").pk)
    assert delivery.status == OutboundDelivery.Status.SENT
    received = InboundMessage.objects.get(account=customer_side)
    raw = bytes(received.raw)
    assert b"From: " in raw and b"<support@desk.test>" in raw
    assert delivery.message.external_id.encode() in raw


@pytest.mark.django_db(transaction=True)
def test_a_refused_recipient_fails_the_delivery_visibly(
    support: Any, agent: Any, smtp_server: InboundController
) -> None:
    box = email_account(
        group=support,
        config={"smtp": {"host": "127.0.0.1", "port": smtp_server.port, "starttls": False}},
    )
    delivery = delivery_send(delivery_id=reply_delivery(box, agent, sender="gone@customer.test").pk)
    assert delivery.status == OutboundDelivery.Status.FAILED
    assert "SMTP refused the recipients" in delivery.error and "550" in delivery.error
    event = TicketEvent.objects.filter(kind=TicketEvent.Kind.DELIVERY).last()
    assert event.new["status"] == "failed"


@pytest.mark.django_db
def test_an_unreachable_smtp_server_is_retried_later(support: Any, agent: Any) -> None:
    port = free_port()  # nothing listens there
    box = email_account(
        group=support, config={"smtp": {"host": "127.0.0.1", "port": port, "starttls": False}}
    )
    delivery = reply_delivery(box, agent, sender="pat@customer.test")
    with pytest.raises(DeliveryError) as raised:
        delivery_send(delivery_id=delivery.pk)
    assert not raised.value.permanent
    delivery.refresh_from_db()
    assert delivery.status == OutboundDelivery.Status.QUEUED and delivery.attempts == 1
    assert "Connection refused" in delivery.error


@pytest.mark.django_db
@responses.activate
@pytest.mark.parametrize(
    "status, outcome",
    [(200, "sent"), (401, "failed"), (503, "retry")],
)
def test_a_reply_through_mailgun_sorts_its_answers(
    support: Any, agent: Any, monkeypatch: pytest.MonkeyPatch, status: int, outcome: str
) -> None:
    monkeypatch.setenv("MAILGUN_KEY", "key-test")
    body = {"id": "<20261123.1@desk.test>", "message": "Queued. Thank you."}
    responses.post(
        "https://api.mailgun.net/v3/desk.test/messages",
        status=status,
        json=body if status == 200 else {"message": "nope"},
    )
    box = email_account(group=support, config={"esp": "mailgun", "esp_api_key_env": "MAILGUN_KEY"})
    delivery = reply_delivery(box, agent, sender="pat@customer.test")
    if outcome == "retry":
        with pytest.raises(DeliveryError) as raised:
            delivery_send(delivery_id=delivery.pk)
        assert not raised.value.permanent
        return
    delivery = delivery_send(delivery_id=delivery.pk)
    assert delivery.status == outcome
    sent = responses.calls[0].request
    assert sent.headers["Authorization"].startswith("Basic ")
    form = parse_qs(sent.body if isinstance(sent.body, str) else sent.body.decode())
    assert form["text"] == ["We are on it."] and form["to"] == ["pat@customer.test"]
    assert form["h:In-Reply-To"] == ["<a1@customer.test>"]

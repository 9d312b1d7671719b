"""A failed delivery shows on the message itself (with its reason and a Retry button), never as
sent in the portal, and Retry sends it again through the deliver queue."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from channels_in.email.smtp import InboundController, free_port
from channels_in.models import OutboundDelivery
from channels_in.services import delivery_send
from tests.channels_in.mailtools import email_account, ingest, make_mail
from tests.conftest import client_for
from tests.factories import ContactFactory, make_ticket
from tickets import services
from tickets.models import Message, Ticket, TicketEvent


@pytest.fixture
def smtp_server() -> Iterator[InboundController]:
    controller = InboundController(hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


@pytest.fixture
def eager_celery() -> Iterator[None]:
    """Queued tasks run in this process, on this test's database, as the worker would."""
    from helpdesk.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


def _ticket_url(ticket: Ticket) -> str:
    return reverse("desk:ticket", kwargs={"number": ticket.number})


@pytest.mark.django_db(transaction=True)
def test_a_refused_reply_shows_red_on_the_message_and_retry_sends_it(
    support: Any, agent: Any, smtp_server: InboundController, eager_celery: None
) -> None:
    box = email_account(
        group=support,
        config={"smtp": {"host": "127.0.0.1", "port": smtp_server.port, "starttls": False}},
    )
    ticket = Ticket.objects.get(pk=ingest(box, make_mail(sender="gone@customer.test")).ticket_id)
    reply = services.ticket_reply(ticket=ticket, author=agent, text="We are on it.")
    delivery = OutboundDelivery.objects.get(message=reply)
    assert delivery_send(delivery_id=delivery.pk).status == OutboundDelivery.Status.FAILED

    reply.refresh_from_db()
    assert reply.delivery_status == "failed" and "550" in reply.delivery_error
    client = client_for(agent)
    body = client.get(_ticket_url(ticket)).content.decode()
    assert "msg-failed" in body and "Not delivered" in body
    assert "SMTP refused the recipients" in body
    retry_url = reverse("channels_in:delivery-retry", kwargs={"message_id": reply.pk})
    assert f'action="{retry_url}"' in body

    # the customer's address works now; Retry requeues and the worker sends it
    email_account(name="customer-side", address="gone@customer.test")
    response = client.post(retry_url)
    assert response.status_code == 302
    assert response["Location"] == f"{_ticket_url(ticket)}#message-{reply.pk}"
    delivery.refresh_from_db()
    reply.refresh_from_db()
    assert delivery.status == OutboundDelivery.Status.SENT and delivery.error == ""
    assert (reply.delivery_status, reply.delivery_error) == ("sent", "")
    statuses = [
        e.payload["status"]
        for e in TicketEvent.objects.filter(ticket=ticket, kind=TicketEvent.Kind.DELIVERY)
    ]
    assert statuses == ["failed", "queued", "sent"]
    body = client.get(_ticket_url(ticket)).content.decode()
    assert "Not delivered" not in body and "msg-delivery-sent" in body

    # nothing failed any more: a second Retry is refused and sends nothing
    page = client.post(retry_url, follow=True).content.decode()
    assert "no failed delivery to retry" in page
    assert OutboundDelivery.objects.get(pk=delivery.pk).status == OutboundDelivery.Status.SENT


def _failed_reply(ticket: Ticket, agent: Any, text: str = "Sorry for the wait.") -> Message:
    reply = services.ticket_reply(ticket=ticket, author=agent, text=text, channel="email")
    services.delivery_record_event(
        ticket_id=ticket.pk, message_id=reply.pk, status="failed", detail="550 mailbox unknown"
    )
    return reply


@pytest.mark.django_db
def test_the_portal_never_shows_a_failed_reply_as_sent(
    support: Any, agent: Any, customer: Any
) -> None:
    ticket = make_ticket(group=support, contact=customer.contact)
    _failed_reply(ticket, agent)

    page = client_for(customer).get(reverse("portal:ticket", kwargs={"number": ticket.number}))
    body = page.content.decode()
    assert page.status_code == 200
    assert "Sorry for the wait." in body and "Not delivered" in body
    assert "550 mailbox unknown" not in body  # the provider's reason is for agents
    assert "Retry" not in body


@pytest.mark.django_db
def test_only_the_tickets_agents_may_retry(
    support: Any, agent: Any, other_agent: Any, customer: Any
) -> None:
    ticket = make_ticket(group=support)
    reply = _failed_reply(ticket, agent)
    url = reverse("channels_in:delivery-retry", kwargs={"message_id": reply.pk})

    assert client_for(other_agent).post(url).status_code == 404
    assert client_for(customer).post(url).status_code == 403
    assert Message.objects.get(pk=reply.pk).delivery_status == "failed"


@pytest.mark.django_db
def test_the_thread_reads_delivery_states_without_a_query_per_message(
    agent_client: Client, agent: Any, support: Any
) -> None:
    ticket = make_ticket(group=support, contact=ContactFactory(email="q@customer.test"))
    _failed_reply(ticket, agent, "first")
    url = _ticket_url(ticket)
    agent_client.get(url)  # warm the session and caches
    with CaptureQueriesContext(connection) as one:
        agent_client.get(url)
    for n in range(6):
        _failed_reply(ticket, agent, f"again {n}")
        services.ticket_reply(ticket=ticket, author=agent, text=f"fine {n}", channel="email")
    with CaptureQueriesContext(connection) as many:
        body = agent_client.get(url).content.decode()
    assert body.count("Not delivered") == 7
    assert len(many) == len(one)

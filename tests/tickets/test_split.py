"""Splitting a customer's message out of a ticket into a new, linked ticket."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from tests.conftest import client_for
from tests.factories import ContactFactory, make_ticket
from tickets import services
from tickets.models import ActorKind, Identity, Message, Ticket, TicketEvent
from tickets.types import IncomingMessage


def _second_message(ticket: Ticket, text: str = "Also: my invoice is wrong.") -> Message:
    identity = ticket.contact.identities.first()
    assert identity is not None
    result = services.message_ingest(
        incoming=IncomingMessage(
            channel="email",
            identity_kind=Identity.Kind.EMAIL,
            identity_value=identity.value,
            subject="Invoice",
            text=text,
            external_id="<second@customer.test>",
            target_ticket_id=ticket.pk,
        )
    )
    assert result.ticket_id == ticket.pk
    return Message.objects.get(pk=result.message_id)


def _split_url(ticket: Ticket, message: Message) -> str:
    return reverse("desk:split", kwargs={"number": ticket.number, "message_id": message.pk})


@pytest.mark.django_db
def test_it_splits_a_message_into_a_linked_ticket(
    agent_client: Client, agent: Any, support: Any
) -> None:
    ticket = make_ticket(group=support, contact=ContactFactory(email="sam@customer.test"))
    second = _second_message(ticket)

    response = agent_client.post(_split_url(ticket, second))

    new = Ticket.objects.exclude(pk=ticket.pk).get()
    assert response["Location"] == reverse("desk:ticket", kwargs={"number": new.number})
    second.refresh_from_db()
    ticket.refresh_from_db()
    assert second.ticket == new and second.metadata["split_from"] == ticket.number
    assert (new.contact, new.group, new.subject) == (ticket.contact, support, "Invoice")
    assert (ticket.message_count, new.message_count) == (1, 1)
    for side in (ticket, new):
        (link,) = TicketEvent.objects.filter(ticket=side, kind=TicketEvent.Kind.FOLLOW_UP)
        assert link.payload == {"previous": ticket.number, "next": new.number}
        assert link.actor == agent and link.actor_kind == ActorKind.AGENT
    created = TicketEvent.objects.get(ticket=new, kind=TicketEvent.Kind.CREATED)
    assert created.payload["message"] == second.pk

    # the link shows on both tickets
    old_page = agent_client.get(reverse("desk:ticket", kwargs={"number": ticket.number}))
    assert f'href="/desk/tickets/{new.number}/">#{new.number}</a>' in old_page.content.decode()
    new_page = agent_client.get(reverse("desk:ticket", kwargs={"number": new.number}))
    body = new_page.content.decode()
    assert "Follow-up of" in body and f'href="/desk/tickets/{ticket.number}/"' in body

    # the customer's answer to the split message threads into the new ticket
    result = services.message_ingest(
        incoming=IncomingMessage(
            channel="email",
            identity_kind=Identity.Kind.EMAIL,
            identity_value="sam@customer.test",
            subject="Re: Invoice",
            text="Here is the invoice number.",
            external_id="<third@customer.test>",
            thread_refs=("<second@customer.test>",),
        )
    )
    assert result.ticket_id == new.pk


@pytest.mark.django_db
def test_the_thread_offers_split_only_on_customer_messages_of_a_longer_thread(
    agent_client: Client, agent: Any, support: Any
) -> None:
    ticket = make_ticket(group=support)
    url = reverse("desk:ticket", kwargs={"number": ticket.number})
    assert "Split into a new ticket" not in agent_client.get(url).content.decode()
    second = _second_message(ticket)
    services.ticket_note(ticket=ticket, author=agent, text="Internal")
    body = agent_client.get(url).content.decode()
    assert body.count("Split into a new ticket") == 2
    assert _split_url(ticket, second) in body


@pytest.mark.django_db
def test_it_refuses_notes_the_only_message_and_other_tickets_messages(
    agent_client: Client, agent: Any, support: Any
) -> None:
    ticket = make_ticket(group=support)
    only = ticket.messages.get()
    agent_client.post(_split_url(ticket, only))
    assert Ticket.objects.count() == 1

    note = services.ticket_note(ticket=ticket, author=agent, text="Internal")
    page = agent_client.post(_split_url(ticket, note), follow=True).content.decode()
    assert "Only a customer" in page
    other = make_ticket(group=support)
    _second_message(other)
    agent_client.post(_split_url(ticket, other.messages.first()))  # not this ticket's
    assert Ticket.objects.count() == 2
    assert not TicketEvent.objects.filter(kind=TicketEvent.Kind.FOLLOW_UP).exists()


@pytest.mark.django_db
def test_another_team_cannot_split(other_agent: Any, support: Any) -> None:
    ticket = make_ticket(group=support)
    second = _second_message(ticket)
    assert client_for(other_agent).post(_split_url(ticket, second)).status_code == 404
    assert Ticket.objects.count() == 1

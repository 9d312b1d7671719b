"""An agent opens a ticket by hand: a phone call, a walk-in, a letter, or a message we send first."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from channels_in.models import OutboundDelivery
from tests.conftest import client_for
from tests.factories import ContactFactory, make_ticket
from tickets import services
from tickets.models import ActorKind, Contact, Identity, Message, Ticket, TicketEvent
from tickets.types import IncomingMessage

NEW = reverse("desk:ticket_new")


def _open(client: Client, **data: Any) -> Any:
    return client.post(NEW, {"origin": "phone", "subject": "", **data})


@pytest.mark.django_db
def test_it_logs_a_phone_call_as_a_ticket_for_an_existing_contact(
    agent_client: Client, agent: Any, support: Any
) -> None:
    contact = ContactFactory(name="Pat Caller", email="pat@customer.test")

    response = _open(
        agent_client,
        contact=contact.pk,
        group=support.pk,
        subject="Router keeps rebooting",
        text="Pat called: the router reboots every hour since Monday.",
    )

    ticket = Ticket.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("desk:ticket", kwargs={"number": ticket.number})
    assert (ticket.contact, ticket.channel, ticket.group) == (contact, "phone", support)
    assert ticket.assignee == agent and ticket.status == "open"
    message = ticket.messages.get()
    assert message.kind == Message.Kind.CUSTOMER and "reboots every hour" in message.text
    assert message.metadata == {"opened_by": {"agent": agent.pk, "origin": "phone"}}
    created = TicketEvent.objects.get(ticket=ticket, kind=TicketEvent.Kind.CREATED)
    assert created.actor == agent and created.actor_kind == ActorKind.AGENT
    assert not OutboundDelivery.objects.exists()  # nothing is sent for a logged call


@pytest.mark.django_db
@pytest.mark.parametrize("origin", ["walk_in", "letter"])
def test_a_walk_in_or_a_letter_opens_a_web_ticket(
    agent_client: Client, support: Any, origin: str
) -> None:
    contact = ContactFactory()
    _open(agent_client, contact=contact.pk, group=support.pk, origin=origin, text="At the desk.")
    ticket = Ticket.objects.get()
    assert ticket.channel == "web"
    assert ticket.messages.get().metadata["opened_by"]["origin"] == origin


@pytest.mark.django_db
def test_an_outbound_email_starts_a_thread_the_customer_answers_into(
    agent_client: Client, agent: Any, support: Any
) -> None:
    response = _open(
        agent_client,
        name="New Person",
        email="New.Person@Customer.test",
        phone="+1 202 555 0143",
        origin="outbound",
        channel="email",
        group=support.pk,
        subject="Your replacement part",
        text="Hello, your replacement part ships tomorrow.",
    )
    assert response.status_code == 302

    ticket = Ticket.objects.get()
    contact = Contact.objects.get(name="New Person")
    assert ticket.contact == contact
    assert set(contact.identities.values_list("kind", "value")) == {
        (Identity.Kind.EMAIL, "new.person@customer.test"),
        (Identity.Kind.PHONE, "+12025550143"),
    }
    reply = ticket.messages.get()
    assert reply.kind == Message.Kind.REPLY and reply.author_user == agent
    delivery = OutboundDelivery.objects.get(message=reply)
    assert delivery.channel == "email" and delivery.recipient == "new.person@customer.test"
    assert ticket.reply_token in reply.external_id
    ticket.refresh_from_db()
    assert ticket.status == "pending" and ticket.assignee == agent

    result = services.message_ingest(
        incoming=IncomingMessage(
            channel="email",
            identity_kind=Identity.Kind.EMAIL,
            identity_value="new.person@customer.test",
            subject="Re: Your replacement part",
            text="Great, thanks!",
            external_id="<answer-1@customer.test>",
            thread_refs=(reply.external_id,),
        )
    )
    assert result.ticket_id == ticket.pk and not result.created_ticket
    assert ticket.messages.count() == 2


@pytest.mark.django_db
def test_it_refuses_a_channel_the_contact_has_no_address_on(
    agent_client: Client, support: Any
) -> None:
    contact = ContactFactory(email="only-mail@customer.test")
    response = _open(
        agent_client,
        contact=contact.pk,
        group=support.pk,
        origin="outbound",
        channel="whatsapp",
        text="Hi!",
    )
    assert response.status_code == 400
    assert "This contact has no address on that channel." in response.content.decode()
    assert not Ticket.objects.exists()

    before = Contact.objects.count()
    response = _open(
        agent_client, email="new@customer.test", origin="outbound", channel="sms", text="Hi!"
    )
    assert response.status_code == 400
    assert Contact.objects.count() == before  # the new contact went with the refused ticket


@pytest.mark.django_db
def test_it_refuses_another_teams_group_and_a_contact_the_agent_cannot_see(
    agent_client: Client, support: Any, billing: Any
) -> None:
    hidden = make_ticket(group=billing).contact
    response = _open(agent_client, contact=hidden.pk, group=support.pk, text="x")
    assert response.status_code == 400
    assert "Choose a contact you can see." in response.content.decode()

    response = _open(agent_client, email="a@customer.test", group=billing.pk, text="x")
    assert response.status_code == 400
    assert Ticket.objects.count() == 1


@pytest.mark.django_db
def test_it_asks_for_a_contact_and_a_message(agent_client: Client) -> None:
    response = _open(agent_client, text="")
    body = response.content.decode()
    assert response.status_code == 400
    assert "Choose a contact, or give the new contact" in body
    assert not Ticket.objects.exists()


@pytest.mark.django_db
def test_the_page_finds_contacts_and_is_linked_from_queue_and_contact(
    agent_client: Client, support: Any, customer: Any
) -> None:
    contact = ContactFactory(name="Quinn Findable", email="quinn@customer.test")
    make_ticket(group=support, contact=contact)

    found = agent_client.get(NEW, {"q": "quinn@"}).content.decode()
    assert f"?contact={contact.pk}" in found and "Quinn Findable" in found
    chosen = agent_client.get(NEW, {"contact": contact.pk}).content.decode()
    assert f'name="contact" value="{contact.pk}"' in chosen
    assert NEW in agent_client.get(reverse("desk:queue")).content.decode()
    page = agent_client.get(reverse("desk:contact", kwargs={"contact_id": contact.pk}))
    assert f"{NEW}?contact={contact.pk}" in page.content.decode()
    assert client_for(customer).get(NEW).status_code == 403

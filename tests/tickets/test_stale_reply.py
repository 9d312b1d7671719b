"""A reply written against an old picture of the ticket is held back, with what changed."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from tests.conftest import client_for
from tests.factories import ContactFactory, make_agent, make_ticket
from tickets import services
from tickets.models import Message, Ticket
from tickets.types import IncomingMessage

HTMX = {"HTTP_HX_REQUEST": "true"}
PAT = "pat@customer.test"


def _seen(client: Client, ticket: Ticket) -> int:
    page = client.get(reverse("desk:ticket", kwargs={"number": ticket.number}))
    marker = page.content.decode().split('name="seen_message" value="')[1]
    return int(marker.split('"')[0])


def _customer_writes(ticket: Ticket, text: str) -> None:
    services.message_ingest(
        incoming=IncomingMessage(
            channel="email",
            identity_kind="email",
            identity_value=PAT,
            subject=f"Re: {ticket.subject}",
            text=text,
            target_ticket_id=ticket.pk,
        )
    )


def _reply(client: Client, ticket: Ticket, seen: int | None, **extra: Any) -> Any:
    data: dict[str, Any] = {"text": "Try turning it off.", "status": "pending"}
    if seen is not None:
        data["seen_message"] = seen
    return client.post(reverse("desk:reply", kwargs={"number": ticket.number}), data, **extra)


@pytest.mark.django_db
def test_the_page_carries_the_newest_message_it_shows(agent_client: Client, support: Any) -> None:
    ticket = make_ticket(group=support, contact=ContactFactory(email=PAT))
    assert _seen(agent_client, ticket) == ticket.messages.get().pk


@pytest.mark.django_db
def test_a_customer_message_after_page_load_holds_the_reply_and_shows_it(
    agent_client: Client, support: Any
) -> None:
    ticket = make_ticket(group=support, contact=ContactFactory(email=PAT))
    seen = _seen(agent_client, ticket)
    _customer_writes(ticket, "Never mind, it stopped burning.")

    response = _reply(agent_client, ticket, seen, **HTMX)

    assert response.status_code == 409
    body = response.content.decode()
    assert "Never mind, it stopped burning." in body
    assert "Send anyway" in body and 'hx-swap-oob="true"' in body
    assert not Message.objects.filter(ticket=ticket, kind=Message.Kind.REPLY).exists()
    newest = ticket.messages.order_by("-pk").first()
    assert newest is not None
    assert f'name="seen_message" value="{newest.pk}"' in body

    # "Send anyway" posts again with the news taken as seen: it goes through
    sent = _reply(agent_client, ticket, newest.pk, **HTMX)
    assert sent.status_code == 200 and sent["HX-Trigger"] == "reply-sent"
    assert Message.objects.filter(ticket=ticket, kind=Message.Kind.REPLY).count() == 1
    # and the form's marker moves past the agent's own reply
    reply = Message.objects.get(ticket=ticket, kind=Message.Kind.REPLY)
    assert f'name="seen_message" value="{reply.pk}"' in sent.content.decode()


@pytest.mark.django_db
def test_another_agents_reply_warns_but_my_own_and_notes_do_not(
    agent: Any, agent_client: Client, support: Any
) -> None:
    ticket = make_ticket(group=support, contact=ContactFactory(email=PAT))
    seen = _seen(agent_client, ticket)
    services.ticket_note(ticket=ticket, author=make_agent("nia", groups=[support]), text="FYI")
    services.ticket_reply(ticket=ticket, author=agent, text="First answer")
    assert _reply(agent_client, ticket, seen, **HTMX).status_code == 200

    seen = _seen(agent_client, ticket)
    colleague = make_agent("cleo", groups=[support])
    services.ticket_reply(ticket=ticket, author=colleague, text="I answered already")
    held = _reply(agent_client, ticket, seen, **HTMX)
    assert held.status_code == 409 and "I answered already" in held.content.decode()


@pytest.mark.django_db
def test_a_plain_post_gets_the_page_back_with_the_text_kept(
    agent_client: Client, support: Any
) -> None:
    ticket = make_ticket(group=support, contact=ContactFactory(email=PAT))
    seen = _seen(agent_client, ticket)
    _customer_writes(ticket, "Hello again")
    response = _reply(agent_client, ticket, seen)
    assert response.status_code == 409
    body = response.content.decode()
    assert "Hello again" in body and ">Try turning it off.</textarea>" in body


@pytest.mark.django_db
def test_a_form_without_the_marker_is_not_checked(agent_client: Client, support: Any) -> None:
    ticket = make_ticket(group=support, contact=ContactFactory(email=PAT))
    _customer_writes(ticket, "More news")
    assert _reply(agent_client, ticket, None, **HTMX).status_code == 200


@pytest.mark.django_db
def test_another_teams_agent_still_gets_404(other_agent: Any, support: Any) -> None:
    ticket = make_ticket(group=support, contact=ContactFactory(email=PAT))
    assert _reply(client_for(other_agent), ticket, 0, **HTMX).status_code == 404

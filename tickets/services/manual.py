"""Tickets an agent opens by hand: for a customer who phoned, walked in or wrote a letter, or
to write to a customer first (the outbound message starts the thread)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from .. import event_types as et
from ..models import ActorKind, Channel, Contact, Group, Identity, Message, Ticket, TicketEvent
from ..roles import is_agent
from ..teams import works_in_group
from .common import ServiceError, _announce
from .history import event_record
from .lifecycle import _subject_from, ticket_assign, ticket_create
from .messages import ticket_reply

# What the customer told us, recorded by the agent, and the channel the ticket belongs to.
LOGGED_ORIGINS: dict[str, str] = {
    "phone": Channel.PHONE,
    "walk_in": Channel.WEB,
    "letter": Channel.WEB,
}
OUTBOUND = "outbound"
ORIGINS: tuple[tuple[str, str], ...] = (
    ("phone", "Phone call"),
    ("walk_in", "Walk-in"),
    ("letter", "Letter"),
    (OUTBOUND, "We write first"),
)
# Which channels an identity of each kind can be written to first.
OUTBOUND_CHANNELS: dict[str, tuple[str, ...]] = {
    Identity.Kind.EMAIL: (Channel.EMAIL,),
    Identity.Kind.PHONE: (Channel.SMS, Channel.WHATSAPP),
    Identity.Kind.WHATSAPP: (Channel.WHATSAPP,),
    Identity.Kind.TELEGRAM: (Channel.TELEGRAM,),
    Identity.Kind.MESSENGER: (Channel.MESSENGER,),
}


def outbound_channels(contact: Contact) -> list[str]:
    """The channels we can open a conversation with this contact on, best first."""
    found: list[str] = []
    for identity in contact.identities.all():
        for channel in OUTBOUND_CHANNELS.get(identity.kind, ()):
            if channel not in found:
                found.append(channel)
    return [c for c in Channel.values if c in found]


@transaction.atomic
def ticket_open_by_agent(
    *,
    agent: Any,
    contact: Contact,
    origin: str,
    subject: str,
    text: str,
    group: Group | None,
    channel: str = "",
) -> Ticket:
    """Open a ticket for `contact`. A phone call, walk-in or letter records the customer's
    request as their first message (its metadata says which agent wrote it down, and how it
    came); `outbound` opens the ticket with the agent's own message, sent on `channel` through
    the normal reply path, so the customer's answer threads back into it. The agent is
    assigned when they work in the ticket's group."""
    if not is_agent(agent):
        raise ServiceError("Only agents open tickets for customers.")
    if contact.merged_into_id is not None:
        raise ServiceError("That contact was merged into another; choose that one.")
    if not text.strip():
        raise ServiceError("Write what the ticket is about.")
    if group is not None and not works_in_group(agent, group.pk):
        raise ServiceError("You can only open tickets in your own groups.")
    if origin in LOGGED_ORIGINS:
        ticket = ticket_create(
            contact=contact,
            subject=subject,
            text=text,
            channel=LOGGED_ORIGINS[origin],
            actor=agent,
            actor_kind=ActorKind.AGENT,
            group=group,
        )
        Message.objects.filter(ticket=ticket).update(
            metadata={"opened_by": {"agent": agent.pk, "origin": origin}}
        )
    elif origin == OUTBOUND:
        if channel not in outbound_channels(contact):
            raise ServiceError("This contact has no address on that channel.")
        ticket = _ticket_without_message(
            agent, contact, subject or _subject_from(text), channel, group
        )
        ticket_reply(ticket=ticket, author=agent, text=text, channel=channel)
    else:
        raise ServiceError(f"Unknown way the ticket came in: {origin!r}.")
    if ticket.assignee_id is None and works_in_group(agent, ticket.group_id):
        ticket = ticket_assign(ticket=ticket, agent=agent, actor=agent)
    return ticket


def _ticket_without_message(
    agent: Any, contact: Contact, subject: str, channel: str, group: Group | None
) -> Ticket:
    now = timezone.now()
    ticket = Ticket.objects.create(
        subject=subject.strip()[:300],
        channel=channel,
        contact=contact,
        organisation_id=contact.organisation_id,
        group=group,
        created_at=now,
        updated_at=now,
    )
    event_record(
        ticket=ticket,
        kind=TicketEvent.Kind.CREATED,
        actor=agent,
        actor_kind=ActorKind.AGENT,
        payload=et.Created(channel=channel, subject=ticket.subject),
        occurred_at=now,
    )
    _announce(ticket, "created")
    return ticket

"""Splitting: a customer's message that is a problem of its own becomes a new ticket."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .. import event_types as et
from ..models import ActorKind, Message, Ticket, TicketEvent
from .common import ServiceError, _announce, _lock
from .history import actor_kind_of, event_record
from .lifecycle import _subject_from


@transaction.atomic
def ticket_split(*, ticket: Ticket, message_id: int, actor: Any) -> Ticket:
    """Move the customer message `message_id` of `ticket` (with its attachments) into a new
    ticket of the same contact, group and priority. Both tickets record the link as a
    FOLLOW_UP event (`previous` the ticket split from, `next` the new one); the moved message
    keeps its external id, so the customer's answers to it thread into the new ticket. Locks
    the ticket, then the message."""
    ticket = _lock(ticket)
    if ticket.merged_into_id is not None:
        raise ServiceError("This ticket was merged into another.")
    message = Message.objects.select_for_update().filter(pk=message_id, ticket=ticket).first()
    if message is None:
        raise ServiceError("That message is not on this ticket.")
    if message.kind != Message.Kind.CUSTOMER:
        raise ServiceError("Only a customer's message can be split into a ticket of its own.")
    if Message.objects.filter(ticket=ticket).count() < 2:
        raise ServiceError("This is the ticket's only message: there is nothing to split it from.")
    contact = message.author_contact
    if contact is None or contact.merged_into_id is not None:
        contact = ticket.contact
    now = timezone.now()
    subject = (message.subject.strip() or _subject_from(message.text))[:300]
    new = Ticket.objects.create(
        subject=subject,
        channel=message.channel,
        contact=contact,
        organisation_id=contact.organisation_id,
        group_id=ticket.group_id,
        priority=ticket.priority,
        channel_account_id=message.channel_account_id or ticket.channel_account_id,
        created_at=now,
        updated_at=now,
        last_customer_message_at=message.created_at,
        message_count=1,
    )
    message.ticket = new
    message.metadata = {**(message.metadata or {}), "split_from": ticket.number}
    message.save(update_fields=["ticket", "metadata"])
    ticket.message_count = F("message_count") - 1
    ticket.updated_at = now
    ticket.save(update_fields=["message_count", "updated_at"])
    ticket.refresh_from_db(fields=["message_count"])
    kind = actor_kind_of(actor)
    event_record(
        ticket=new,
        kind=TicketEvent.Kind.CREATED,
        actor=actor,
        actor_kind=kind,
        payload=et.Created(channel=new.channel, subject=subject, message=message.pk),
        occurred_at=now,
    )
    event_record(
        ticket=new,
        kind=TicketEvent.Kind.MESSAGE,
        actor_contact=contact,
        actor_kind=ActorKind.CUSTOMER,
        payload=et.CustomerMessage(message=message.pk, channel=message.channel),
        occurred_at=message.created_at,
    )
    link = et.FollowUp(previous=ticket.number, next=new.number)
    for side in (ticket, new):
        event_record(
            ticket=side, kind=TicketEvent.Kind.FOLLOW_UP, actor=actor, actor_kind=kind, payload=link
        )
    _announce(ticket, "split")
    _announce(new, "created")
    return new

"""What every service shares: the error a rule raises, the event writer, the after-commit
announcement, the ticket row lock and attachment storage."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from django.core.files.base import ContentFile
from django.db import transaction

from .. import events
from ..models import Attachment, Contact, Message, Ticket, TicketEvent
from ..types import IncomingAttachment


class ServiceError(ValueError):
    """A change the rules do not allow; the message is shown to the person who asked."""


def _event(
    ticket: Ticket,
    kind: str,
    *,
    actor: Any = None,
    actor_contact: Contact | None = None,
    old: Any = None,
    new: Any = None,
) -> TicketEvent:
    return TicketEvent.objects.create(
        ticket=ticket,
        kind=kind,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        actor_contact=actor_contact,
        old=old,
        new=new,
    )


def _announce(ticket: Ticket, kind: str) -> None:
    ticket_id, number, group_id = ticket.pk, ticket.number, ticket.group_id

    def send() -> None:
        events.ticket_changed.send(
            sender=Ticket, ticket_id=ticket_id, number=number, group_id=group_id, kind=kind
        )

    transaction.on_commit(send)


def _store_attachments(message: Message, attachments: Iterable[IncomingAttachment]) -> None:
    for item in attachments:
        digest = hashlib.sha256(item.payload).hexdigest()
        att = Attachment(
            message=message,
            filename=item.filename[:255] or "attachment",
            content_type=item.content_type[:200] or "application/octet-stream",
            size=len(item.payload),
            sha256=digest,
            content_id=item.content_id[:255],
            inline=item.inline,
        )
        att.file.save(att.filename, ContentFile(item.payload), save=False)
        att.save()


def _lock(ticket: Ticket) -> Ticket:
    return Ticket.objects.select_for_update().get(pk=ticket.pk)

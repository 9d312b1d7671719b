"""How outbound messages fared, as the channel edges report it."""

from __future__ import annotations

from datetime import datetime

from .. import event_types as et
from ..models import ActorKind, Message, Ticket, TicketEvent
from .common import _announce
from .history import event_record


def delivery_record_event(
    *,
    ticket_id: int,
    message_id: int,
    status: str,
    detail: str = "",
    occurred_at: datetime | None = None,
) -> None:
    """Edges report how an outbound message fared (sent, delivered, read, delayed, failed);
    the ticket's log shows it, and the message keeps the latest as its `delivery_status` (a
    failure with its reason). `occurred_at` is the provider's time when it gives one."""
    ticket = Ticket.objects.filter(pk=ticket_id).first()
    if ticket is None:
        return
    Message.objects.filter(pk=message_id).update(
        delivery_status=status[:16], delivery_error=detail[:500] if status == "failed" else ""
    )
    event_record(
        ticket=ticket,
        kind=TicketEvent.Kind.DELIVERY,
        actor_kind=ActorKind.SYSTEM,
        payload=et.Delivery(message=message_id, status=status, detail=detail[:500]),
        occurred_at=occurred_at,
    )
    _announce(ticket, "delivery")

"""How outbound messages fared, as the channel edges report it."""

from __future__ import annotations

from ..models import Ticket, TicketEvent
from .common import _announce, _event


def delivery_record_event(
    *, ticket_id: int, message_id: int, status: str, detail: str = ""
) -> None:
    """Edges report how an outbound message fared; the ticket's audit shows it."""
    ticket = Ticket.objects.filter(pk=ticket_id).first()
    if ticket is None:
        return
    _event(
        ticket,
        TicketEvent.Kind.DELIVERY,
        new={"message": message_id, "status": status, "detail": detail[:500]},
    )
    _announce(ticket, "delivery")

"""Phone calls an agent logs on a ticket."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from ..models import Channel, Message, Ticket, TicketEvent
from .common import ServiceError, _announce, _event, _lock


@transaction.atomic
def call_log(
    *, ticket: Ticket, agent: Any, direction: str, duration_seconds: int, notes: str
) -> Message:
    """An agent records a phone call they took or made: an internal note whose metadata holds
    the call (`{"call": {direction, duration_seconds, notes, agent}}`), and its event.
    Locks the ticket."""
    from ..roles import is_agent

    if not is_agent(agent):
        raise ServiceError("Only agents log calls.")
    if direction not in ("inbound", "outbound"):
        raise ServiceError(f"Unknown call direction {direction!r}.")
    if not 0 <= duration_seconds <= 24 * 3600:
        raise ServiceError("A call lasts between 0 seconds and a day.")
    ticket = _lock(ticket)
    now = timezone.now()
    minutes, seconds = divmod(duration_seconds, 60)
    call = {
        "direction": direction,
        "duration_seconds": duration_seconds,
        "notes": notes.strip(),
        "agent": agent.pk,
    }
    heading = "Call from the customer" if direction == "inbound" else "Call to the customer"
    text = f"{heading}, {minutes} min {seconds} s."
    if call["notes"]:
        text += f"\n\n{call['notes']}"
    message = Message.objects.create(
        ticket=ticket,
        kind=Message.Kind.NOTE,
        channel=Channel.PHONE,
        author_user=agent,
        text=text,
        metadata={"call": call},
        created_at=now,
    )
    ticket.updated_at = now
    ticket.message_count = F("message_count") + 1
    ticket.save(update_fields=["updated_at", "message_count"])
    _event(ticket, TicketEvent.Kind.NOTE, actor=agent, new={"message": message.pk, "call": call})
    _announce(ticket, "call")
    return message

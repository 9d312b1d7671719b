"""Macros: a saved set of field changes an agent applies in one go."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from ..models import Ticket
from .lifecycle import ticket_set_priority, ticket_set_status, ticket_set_tags


@transaction.atomic
def macro_apply(*, ticket: Ticket, macro: Any, actor: Any) -> Ticket:
    """Apply a macro's field changes (its text is put into the reply box by the UI)."""
    if macro.set_status:
        ticket = ticket_set_status(ticket=ticket, status=macro.set_status, actor=actor)
    if macro.set_priority:
        ticket = ticket_set_priority(ticket=ticket, priority=macro.set_priority, actor=actor)
    if macro.add_tags:
        current = list(ticket.tags.values_list("name", flat=True))
        ticket = ticket_set_tags(
            ticket=ticket, names=current + macro.add_tags.split(","), actor=actor
        )
    return ticket

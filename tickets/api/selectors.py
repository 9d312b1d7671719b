"""Read queries of the REST API: each starts from the visibility gate (`tickets.access`) and
carries the joins its serializer needs, so a page's query count does not grow with its rows."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet

from ..access import agent_tickets
from ..models import Attachment, Contact, Group, Macro, Message, Tag, Ticket, TicketEvent

# One rule for the API's contact list and the desk's contact search: it lives with the desk's.
from ..selectors import visible_contacts as visible_contacts


def api_tickets(user: Any) -> QuerySet[Ticket]:
    return (
        agent_tickets(user)
        .select_related("contact", "group", "assignee", "organisation")
        .prefetch_related("tags")
    )


def ticket_for_response(ticket_id: int) -> Ticket:
    """A ticket just changed by this agent, to show back to them. Not filtered by visibility:
    moving a ticket to another team must still answer with what was done."""
    return (
        Ticket.objects.select_related("contact", "group", "assignee", "organisation")
        .prefetch_related("tags")
        .get(pk=ticket_id)
    )


def _with_message_joins(qs: QuerySet[Message]) -> QuerySet[Message]:
    return qs.select_related("ticket", "author_user", "author_contact").prefetch_related(
        Prefetch("attachments", queryset=Attachment.objects.order_by("id"))
    )


def ticket_messages(ticket: Ticket) -> QuerySet[Message]:
    """Every message of the ticket, internal notes included (agents only read this)."""
    return _with_message_joins(Message.objects.filter(ticket=ticket)).order_by("created_at", "id")


def api_messages(user: Any) -> QuerySet[Message]:
    return _with_message_joins(
        Message.objects.filter(ticket__in=agent_tickets(user).values("id"))
    ).order_by("created_at", "id")


def message_for_response(message_id: int) -> Message:
    return _with_message_joins(Message.objects.all()).get(pk=message_id)


def ticket_events(ticket: Ticket) -> QuerySet[TicketEvent]:
    return (
        TicketEvent.objects.filter(ticket=ticket)
        .select_related("actor", "actor_contact")
        .order_by("occurred_at", "id")
    )


def api_contacts(user: Any) -> QuerySet[Contact]:
    return (
        visible_contacts(user)
        .select_related("organisation")
        .prefetch_related("identities")
        .order_by("name", "id")
    )


def contact_for_response(contact_id: int) -> Contact:
    return (
        Contact.objects.select_related("organisation")
        .prefetch_related("identities")
        .get(pk=contact_id)
    )


def all_groups() -> QuerySet[Group]:
    return Group.objects.order_by("name")


def all_tags() -> QuerySet[Tag]:
    return Tag.objects.order_by("name")


def active_macros() -> QuerySet[Macro]:
    return Macro.objects.filter(active=True).order_by("name")


def groups_of(user: Any) -> QuerySet[Group]:
    return Group.objects.filter(members=user).order_by("name")

"""The only way a view reaches a ticket: every lookup goes through the user's visibility."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404

from .models import Contact, Ticket
from .roles import is_agent, sees_all_tickets
from .teams import team_ids as my_group_ids


def visible_tickets(user: Any) -> QuerySet[Ticket]:
    """Agents: their groups' tickets and those assigned to them; supervisors/admins: all;
    customers: their own and, when they have a portal login, their organisation's."""
    qs = Ticket.objects.filter(merged_into__isnull=True)
    if not getattr(user, "is_authenticated", False):
        return qs.none()
    if sees_all_tickets(user):
        return qs
    if is_agent(user):
        # A literal id list, not a subquery: the planner can then walk the
        # (updated_at) index and filter, instead of scanning every ticket.
        return qs.filter(Q(group_id__in=my_group_ids(user)) | Q(assignee=user))
    contact = Contact.objects.filter(user=user).only("id", "organisation_id").first()
    if contact is None:
        return qs.none()
    if contact.organisation_id:
        return qs.filter(Q(contact=contact) | Q(organisation_id=contact.organisation_id))
    return qs.filter(contact=contact)


def agent_tickets(user: Any) -> QuerySet[Ticket]:
    """Tickets an agent may work on; nothing for customers and strangers."""
    if not is_agent(user):
        return Ticket.objects.none()
    return visible_tickets(user)


def access_ticket_by_number(user: Any, number: int, *, for_agent: bool = True) -> Ticket:
    qs = agent_tickets(user) if for_agent else visible_tickets(user)
    ticket = qs.filter(number=number).first()
    if ticket is None:
        raise Http404("No such ticket.")
    return ticket


def access_contact_by_id(user: Any, contact_id: int) -> Contact:
    if not is_agent(user):
        raise Http404("No such contact.")
    contact = Contact.objects.filter(pk=contact_id).first()
    if contact is None:
        raise Http404("No such contact.")
    if not sees_all_tickets(user) and not visible_tickets(user).filter(contact=contact).exists():
        raise Http404("No such contact.")
    return contact

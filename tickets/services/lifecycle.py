"""A ticket's own fields over its life: opening it, status, priority, assignee, group, tags,
subject."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from .. import events
from ..models import Channel, Contact, Group, Message, Tag, Ticket, TicketEvent
from ..types import IncomingAttachment
from .common import ServiceError, _announce, _event, _lock, _store_attachments


@transaction.atomic
def ticket_create(
    *,
    contact: Contact,
    subject: str,
    text: str,
    channel: str = Channel.WEB,
    html: str = "",
    actor: Any = None,
    group: Group | None = None,
    priority: int = Ticket.Priority.NORMAL,
    channel_account_id: int | None = None,
    external_id: str = "",
    attachments: Sequence[IncomingAttachment] = (),
    created_at: datetime | None = None,
) -> Ticket:
    """Open a ticket with the customer's first message (an agent may open it for them)."""
    now = created_at or timezone.now()
    ticket = Ticket.objects.create(
        subject=(subject.strip() or _subject_from(text))[:300],
        channel=channel,
        contact=contact,
        organisation_id=contact.organisation_id,
        group=group,
        priority=priority,
        channel_account_id=channel_account_id,
        created_at=now,
        updated_at=now,
        last_customer_message_at=now,
        message_count=1,
    )
    message = Message.objects.create(
        ticket=ticket,
        kind=Message.Kind.CUSTOMER,
        channel=channel,
        author_contact=contact,
        channel_account_id=channel_account_id,
        external_id=external_id,
        subject=subject[:300],
        text=text,
        html=html,
        created_at=now,
    )
    _store_attachments(message, attachments)
    _event(
        ticket,
        TicketEvent.Kind.CREATED,
        actor=actor,
        actor_contact=contact,
        new={"channel": channel, "subject": ticket.subject},
    )
    _announce(ticket, "created")
    return ticket


def _subject_from(text: str) -> str:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return (first[:80] + "…") if len(first) > 80 else (first or "(no subject)")


def _set_status_fields(ticket: Ticket, status: str, fields: list[str], *, actor: Any) -> None:
    if status not in Ticket.Status.values:
        raise ServiceError(f"Unknown status {status!r}.")
    old = ticket.status
    ticket.status = status
    fields.append("status")
    now = timezone.now()
    if status == Ticket.Status.SOLVED and ticket.solved_at is None:
        ticket.solved_at = now
        fields.append("solved_at")
    if status == Ticket.Status.CLOSED:
        ticket.closed_at = now
        fields.append("closed_at")
        if ticket.solved_at is None:
            ticket.solved_at = now
            fields.append("solved_at")
    if status in Ticket.ACTIVE_STATUSES and ticket.solved_at is not None:
        ticket.solved_at = None
        ticket.closed_at = None
        fields.extend(["solved_at", "closed_at"])
    _event(ticket, TicketEvent.Kind.STATUS, actor=actor, old=old, new=status)


@transaction.atomic
def ticket_set_status(*, ticket: Ticket, status: str, actor: Any) -> Ticket:
    ticket = _lock(ticket)
    if ticket.status == status:
        return ticket
    if ticket.status == Ticket.Status.CLOSED and actor is not None:
        raise ServiceError(
            "A closed ticket cannot be changed; the customer's next message opens a follow-up."
        )
    fields: list[str] = ["updated_at"]
    ticket.updated_at = timezone.now()
    _set_status_fields(ticket, status, fields, actor=actor)
    ticket.save(update_fields=fields)
    _announce(ticket, "status")
    return ticket


@transaction.atomic
def ticket_set_priority(*, ticket: Ticket, priority: int, actor: Any) -> Ticket:
    if priority not in Ticket.Priority.values:
        raise ServiceError(f"Unknown priority {priority!r}.")
    ticket = _lock(ticket)
    if ticket.priority == priority:
        return ticket
    _event(ticket, TicketEvent.Kind.PRIORITY, actor=actor, old=ticket.priority, new=priority)
    ticket.priority = priority
    ticket.updated_at = timezone.now()
    ticket.save(update_fields=["priority", "updated_at"])
    _announce(ticket, "priority")
    return ticket


@transaction.atomic
def ticket_assign(*, ticket: Ticket, agent: Any, actor: Any) -> Ticket:
    """Assign to an agent (None unassigns). The agent must be able to see the ticket's group."""
    from ..roles import is_agent, sees_all_tickets

    ticket = _lock(ticket)
    if agent is not None:
        if not is_agent(agent):
            raise ServiceError("Tickets can only be assigned to agents.")
        if (
            ticket.group_id
            and not sees_all_tickets(agent)
            and not agent.helpdesk_groups.filter(pk=ticket.group_id).exists()
        ):
            raise ServiceError(f"{agent} is not a member of the ticket's group.")
    new_id = agent.pk if agent is not None else None
    if ticket.assignee_id == new_id:
        return ticket
    _event(ticket, TicketEvent.Kind.ASSIGNEE, actor=actor, old=ticket.assignee_id, new=new_id)
    ticket.assignee = agent
    ticket.updated_at = timezone.now()
    fields = ["assignee", "updated_at"]
    if ticket.status == Ticket.Status.NEW and agent is not None:
        _set_status_fields(ticket, Ticket.Status.OPEN, fields, actor=actor)
    ticket.save(update_fields=fields)
    _announce(ticket, "assignee")
    return ticket


@transaction.atomic
def ticket_set_group(*, ticket: Ticket, group: Group | None, actor: Any) -> Ticket:
    ticket = _lock(ticket)
    new_id = group.pk if group is not None else None
    if ticket.group_id == new_id:
        return ticket
    _event(ticket, TicketEvent.Kind.GROUP, actor=actor, old=ticket.group_id, new=new_id)
    old_group_id = ticket.group_id
    ticket.group = group
    ticket.updated_at = timezone.now()
    fields = ["group", "updated_at"]
    from ..roles import sees_all_tickets

    if (
        ticket.assignee_id
        and group is not None
        and ticket.assignee is not None
        and not sees_all_tickets(ticket.assignee)
        and not group.members.filter(pk=ticket.assignee_id).exists()
    ):
        _event(ticket, TicketEvent.Kind.ASSIGNEE, actor=actor, old=ticket.assignee_id, new=None)
        ticket.assignee = None
        fields.append("assignee")
    ticket.save(update_fields=fields)
    _announce(ticket, "group")
    if old_group_id:  # the old group's screens must drop it too
        transaction.on_commit(
            lambda: events.ticket_changed.send(
                sender=Ticket,
                ticket_id=ticket.pk,
                number=ticket.number,
                group_id=old_group_id,
                kind="group",
            )
        )
    return ticket


def _clean_tags(names: Iterable[str]) -> list[str]:
    from django.utils.text import slugify

    cleaned = []
    for name in names:
        slug = slugify(name.strip(), allow_unicode=True)[:50]
        if slug and slug not in cleaned:
            cleaned.append(slug)
    return cleaned


@transaction.atomic
def ticket_set_tags(*, ticket: Ticket, names: Iterable[str], actor: Any) -> Ticket:
    ticket = _lock(ticket)
    wanted = _clean_tags(names)
    current = sorted(ticket.tags.values_list("name", flat=True))
    if sorted(wanted) == current:
        return ticket
    for name in wanted:
        Tag.objects.get_or_create(name=name)
    ticket.tags.set(Tag.objects.filter(name__in=wanted))
    _event(ticket, TicketEvent.Kind.TAGS, actor=actor, old=current, new=sorted(wanted))
    ticket.updated_at = timezone.now()
    ticket.save(update_fields=["updated_at"])
    _announce(ticket, "tags")
    return ticket


@transaction.atomic
def ticket_set_subject(*, ticket: Ticket, subject: str, actor: Any) -> Ticket:
    subject = subject.strip()[:300]
    if not subject:
        raise ServiceError("The subject cannot be empty.")
    ticket = _lock(ticket)
    if subject == ticket.subject:
        return ticket
    _event(ticket, TicketEvent.Kind.SUBJECT, actor=actor, old=ticket.subject, new=subject)
    ticket.subject = subject
    ticket.updated_at = timezone.now()
    ticket.save(update_fields=["subject", "updated_at"])
    _announce(ticket, "subject")
    return ticket

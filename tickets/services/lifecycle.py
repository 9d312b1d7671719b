"""A ticket's own fields over its life: opening it, status, priority, assignee, group, tags,
subject."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from .. import event_types as et
from .. import events
from ..models import ActorKind, Channel, Contact, Group, Message, Tag, Ticket, TicketEvent
from ..roles import is_agent
from ..teams import works_in_group
from ..types import IncomingAttachment
from .common import ServiceError, _announce, _lock, _store_attachments, announcing
from .history import actor_kind_of, already_recorded, event_record


@transaction.atomic
def ticket_create(
    *,
    contact: Contact,
    subject: str,
    text: str,
    channel: str = Channel.WEB,
    html: str = "",
    actor: Any = None,
    actor_kind: str | None = None,
    group: Group | None = None,
    priority: int = Ticket.Priority.NORMAL,
    channel_account_id: int | None = None,
    external_id: str = "",
    attachments: Sequence[IncomingAttachment] = (),
    created_at: datetime | None = None,
    automatic: bool = False,
) -> Ticket:
    """Open a ticket with the customer's first message (an agent may open it for them).

    Writes CREATED and, for the first message, MESSAGE, both at `created_at` (the message's
    received time; now by default). `actor` is who opened it (an agent, a portal customer, or
    None when the message arrived by a channel)."""
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
        status_changed_at=now,
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
        is_automatic=automatic,
        created_at=now,
    )
    _store_attachments(message, attachments)
    kind = actor_kind or (actor_kind_of(actor) if actor is not None else ActorKind.CUSTOMER)
    event_record(
        ticket=ticket,
        kind=TicketEvent.Kind.CREATED,
        actor=actor,
        actor_contact=contact,
        actor_kind=kind,
        payload=et.Created(channel=channel, subject=ticket.subject, message=message.pk),
        occurred_at=now,
    )
    event_record(
        ticket=ticket,
        kind=TicketEvent.Kind.MESSAGE,
        actor_contact=contact,
        actor_kind=ActorKind.IMPORT if kind == ActorKind.IMPORT else ActorKind.CUSTOMER,
        payload=et.CustomerMessage(message=message.pk, channel=channel, automatic=automatic),
        occurred_at=now,
    )
    _announce(ticket, "created")
    return ticket


def _subject_from(text: str) -> str:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return (first[:80] + "…") if len(first) > 80 else (first or "(no subject)")


def _set_status_fields(
    ticket: Ticket,
    status: str,
    fields: list[str],
    *,
    actor: Any,
    actor_kind: str | None = None,
    actor_contact: Contact | None = None,
    now: datetime | None = None,
    reason: str = "",
    dedupe_key: str | None = None,
) -> None:
    """Apply a status and its timestamps to `ticket` (saved by the caller) and record it."""
    if status not in Ticket.Status.values:
        raise ServiceError(f"Unknown status {status!r}.")
    old = ticket.status
    ticket.status = status
    fields.append("status")
    now = now or timezone.now()
    ticket.status_changed_at = now
    fields.append("status_changed_at")
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
    event_record(
        ticket=ticket,
        kind=TicketEvent.Kind.STATUS,
        actor=actor,
        actor_contact=actor_contact,
        actor_kind=actor_kind or actor_kind_of(actor),
        payload=et.StatusChange(old=old, new=status, reason=reason),
        occurred_at=now,
        dedupe_key=dedupe_key,
    )


@transaction.atomic
def ticket_set_status(
    *,
    ticket: Ticket,
    status: str,
    actor: Any,
    actor_kind: str | None = None,
    occurred_at: datetime | None = None,
    dedupe_key: str | None = None,
    reason: str = "",
) -> Ticket:
    ticket = _lock(ticket)
    if ticket.status == status or already_recorded(dedupe_key):
        return ticket
    if ticket.status == Ticket.Status.CLOSED and actor is not None:
        raise ServiceError(
            "A closed ticket cannot be changed; the customer's next message opens a follow-up."
        )
    now = occurred_at or timezone.now()
    fields: list[str] = ["updated_at"]
    ticket.updated_at = max(now, ticket.updated_at)
    _set_status_fields(
        ticket,
        status,
        fields,
        actor=actor,
        actor_kind=actor_kind,
        now=now,
        reason=reason,
        dedupe_key=dedupe_key,
    )
    ticket.save(update_fields=fields)
    _announce(ticket, "status")
    return ticket


@transaction.atomic
def ticket_set_priority(
    *,
    ticket: Ticket,
    priority: int,
    actor: Any,
    actor_kind: str | None = None,
    occurred_at: datetime | None = None,
    dedupe_key: str | None = None,
) -> Ticket:
    if priority not in Ticket.Priority.values:
        raise ServiceError(f"Unknown priority {priority!r}.")
    ticket = _lock(ticket)
    if ticket.priority == priority or already_recorded(dedupe_key):
        return ticket
    now = occurred_at or timezone.now()
    old = ticket.priority
    ticket.priority = priority
    ticket.updated_at = max(now, ticket.updated_at)
    event_record(
        ticket=ticket,
        kind=TicketEvent.Kind.PRIORITY,
        actor=actor,
        actor_kind=actor_kind or actor_kind_of(actor),
        payload=et.PriorityChange(old=old, new=priority),
        occurred_at=now,
        dedupe_key=dedupe_key,
    )
    ticket.save(update_fields=["priority", "updated_at"])
    _announce(ticket, "priority")
    return ticket


@transaction.atomic
def ticket_assign(
    *,
    ticket: Ticket,
    agent: Any,
    actor: Any,
    actor_kind: str | None = None,
    occurred_at: datetime | None = None,
    dedupe_key: str | None = None,
    replay: bool = False,
) -> Ticket:
    """Assign to an agent (None unassigns). The agent must work in the ticket's group.

    `replay=True` records an assignment from imported history: what happened is not checked
    against today's teams, and it changes nothing else (no automatic new → open)."""
    ticket = _lock(ticket)
    if agent is not None:
        if not is_agent(agent):
            raise ServiceError("Tickets can only be assigned to agents.")
        if not replay and not works_in_group(agent, ticket.group_id):
            raise ServiceError(f"{agent} is not a member of the ticket's group.")
    new_id = agent.pk if agent is not None else None
    if ticket.assignee_id == new_id or already_recorded(dedupe_key):
        return ticket
    now = occurred_at or timezone.now()
    kind = actor_kind or actor_kind_of(actor)
    old = ticket.assignee_id
    ticket.assignee = agent
    ticket.updated_at = max(now, ticket.updated_at)
    fields = ["assignee", "updated_at"]
    event_record(
        ticket=ticket,
        kind=TicketEvent.Kind.ASSIGNEE,
        actor=actor,
        actor_kind=kind,
        payload=et.AssigneeChange(old=old, new=new_id),
        occurred_at=now,
        dedupe_key=dedupe_key,
    )
    if ticket.status == Ticket.Status.NEW and agent is not None and not replay:
        _set_status_fields(
            ticket,
            Ticket.Status.OPEN,
            fields,
            actor=actor,
            actor_kind=kind,
            now=now,
            reason="assigned",
        )
    ticket.save(update_fields=fields)
    _announce(ticket, "assignee")
    return ticket


@transaction.atomic
def ticket_set_group(
    *,
    ticket: Ticket,
    group: Group | None,
    actor: Any,
    actor_kind: str | None = None,
    occurred_at: datetime | None = None,
    dedupe_key: str | None = None,
    replay: bool = False,
) -> Ticket:
    """Move to a group; an assignee who does not work in it is unassigned (its own event).

    `replay=True` records a move from imported history: it changes nothing else (the
    history says whether the assignee changed)."""
    ticket = _lock(ticket)
    new_id = group.pk if group is not None else None
    if ticket.group_id == new_id or already_recorded(dedupe_key):
        return ticket
    now = occurred_at or timezone.now()
    kind = actor_kind or actor_kind_of(actor)
    old_group_id = ticket.group_id
    ticket.group = group
    ticket.updated_at = max(now, ticket.updated_at)
    fields = ["group", "updated_at"]
    event_record(
        ticket=ticket,
        kind=TicketEvent.Kind.GROUP,
        actor=actor,
        actor_kind=kind,
        payload=et.GroupChange(old=old_group_id, new=new_id),
        occurred_at=now,
        dedupe_key=dedupe_key,
    )
    if (
        not replay
        and ticket.assignee_id
        and group is not None
        and ticket.assignee is not None
        and not works_in_group(ticket.assignee, group.pk)
    ):
        old_assignee = ticket.assignee_id
        ticket.assignee = None
        fields.append("assignee")
        event_record(
            ticket=ticket,
            kind=TicketEvent.Kind.ASSIGNEE,
            actor=actor,
            actor_kind=kind,
            payload=et.AssigneeChange(old=old_assignee, new=None),
            occurred_at=now,
        )
    ticket.save(update_fields=fields)
    _announce(ticket, "group")
    if old_group_id and announcing():  # the old group's screens must drop it too
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
def ticket_set_tags(
    *,
    ticket: Ticket,
    names: Iterable[str],
    actor: Any,
    actor_kind: str | None = None,
    occurred_at: datetime | None = None,
    dedupe_key: str | None = None,
) -> Ticket:
    ticket = _lock(ticket)
    wanted = _clean_tags(names)
    current = sorted(ticket.tags.values_list("name", flat=True))
    if sorted(wanted) == current or already_recorded(dedupe_key):
        return ticket
    now = occurred_at or timezone.now()
    for name in wanted:
        Tag.objects.get_or_create(name=name)
    ticket.tags.set(Tag.objects.filter(name__in=wanted))
    ticket.updated_at = max(now, ticket.updated_at)
    event_record(
        ticket=ticket,
        kind=TicketEvent.Kind.TAGS,
        actor=actor,
        actor_kind=actor_kind or actor_kind_of(actor),
        payload=et.TagsChange(old=current, new=sorted(wanted)),
        occurred_at=now,
        dedupe_key=dedupe_key,
    )
    ticket.save(update_fields=["updated_at"])
    _announce(ticket, "tags")
    return ticket


@transaction.atomic
def ticket_set_subject(
    *, ticket: Ticket, subject: str, actor: Any, actor_kind: str | None = None
) -> Ticket:
    subject = subject.strip()[:300]
    if not subject:
        raise ServiceError("The subject cannot be empty.")
    ticket = _lock(ticket)
    if subject == ticket.subject:
        return ticket
    old = ticket.subject
    ticket.subject = subject
    ticket.updated_at = timezone.now()
    event_record(
        ticket=ticket,
        kind=TicketEvent.Kind.SUBJECT,
        actor=actor,
        actor_kind=actor_kind or actor_kind_of(actor),
        payload=et.SubjectChange(old=old, new=subject),
    )
    ticket.save(update_fields=["subject", "updated_at"])
    _announce(ticket, "subject")
    return ticket


@transaction.atomic
def ticket_set_contact(*, ticket: Ticket, contact: Contact, actor: Any) -> Ticket:
    """Make another contact the ticket's requester (the organisation follows the contact)."""
    ticket = _lock(ticket)
    if contact.merged_into_id is not None:
        raise ServiceError("That contact was merged into another; choose that one.")
    if ticket.contact_id == contact.pk:
        return ticket
    old = ticket.contact_id
    ticket.contact = contact
    ticket.organisation_id = contact.organisation_id
    ticket.updated_at = timezone.now()
    event_record(
        ticket=ticket,
        kind=TicketEvent.Kind.CONTACT,
        actor=actor,
        actor_kind=actor_kind_of(actor),
        payload=et.ContactChange(old=old, new=contact.pk, reason="requester changed"),
    )
    ticket.save(update_fields=["contact", "organisation", "updated_at"])
    _announce(ticket, "contact")
    return ticket

"""The one writer of the event log: `event_record`. Every service calls it, in the transaction
of the change it records, after applying the change to the ticket it passes (the event keeps
the ticket's status, priority, group and assignee as they are then)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from .. import events
from ..event_types import InvalidEvent, payload_json
from ..models import ActorKind, Contact, Ticket, TicketEvent
from ..roles import is_agent


def actor_kind_of(actor: Any) -> str:
    """As what a person acts: an agent (any desk role), a customer (a portal login), or the
    system when nobody is signed in behind the change."""
    if not getattr(actor, "is_authenticated", False):
        return ActorKind.SYSTEM
    return ActorKind.AGENT if is_agent(actor) else ActorKind.CUSTOMER


def event_record_once(
    *,
    ticket: Ticket,
    kind: str,
    actor: Any = None,
    actor_contact: Contact | None = None,
    actor_kind: str,
    payload: Any,
    occurred_at: datetime | None = None,
    dedupe_key: str | None = None,
) -> tuple[TicketEvent, bool]:
    """Write one event; returns it and whether it was written now.

    `payload` is the kind's dataclass from `tickets.event_types` (or a dict of its fields) and
    is validated: a wrong one raises `InvalidPayload`. `occurred_at` defaults to now. With a
    `dedupe_key` already in the log nothing is written and the existing row is returned with
    False: safe under concurrency (the unique index decides; a savepoint absorbs the loser's
    insert, which waits for the winner's commit)."""
    if actor_kind not in ActorKind.values:
        raise InvalidEvent(f"unknown actor kind {actor_kind!r}")
    if ticket.pk is None:
        raise InvalidEvent("an event belongs to a saved ticket")
    dedupe_key = dedupe_key or None  # "" means no key
    if dedupe_key is not None and len(dedupe_key) > 200:
        raise InvalidEvent("a dedupe key has at most 200 characters")
    stored = payload_json(kind, payload)
    now = timezone.now()
    if occurred_at is not None and timezone.is_naive(occurred_at):
        raise InvalidEvent("occurred_at must be timezone-aware")
    row = TicketEvent(
        ticket=ticket,
        kind=kind,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        actor_contact=actor_contact,
        actor_kind=actor_kind,
        payload=stored,
        occurred_at=occurred_at or now,
        recorded_at=now,
        status=ticket.status,
        priority=ticket.priority,
        group_id=ticket.group_id,
        assignee_id=ticket.assignee_id,
        dedupe_key=dedupe_key,
    )
    if row.dedupe_key is None:
        row.save(force_insert=True)
        _announce_committed(row)
        _schedule_notifications(row)
        return row, True
    existing = TicketEvent.objects.filter(dedupe_key=row.dedupe_key).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            row.save(force_insert=True)
    except IntegrityError:
        return TicketEvent.objects.get(dedupe_key=row.dedupe_key), False
    _announce_committed(row)
    _schedule_notifications(row)
    return row, True


def _announce_committed(row: TicketEvent) -> None:
    if row.actor_kind in (ActorKind.AUTOMATION, ActorKind.IMPORT):
        # automation hands its own events on, with the chain that caused them; imported
        # history is the past, which no rule acts on
        return
    event_id, ticket_id, kind = row.pk, row.ticket_id, row.kind
    transaction.on_commit(
        lambda: events.event_committed.send(
            sender=TicketEvent, event_id=event_id, ticket_id=ticket_id, kind=kind
        )
    )


def _schedule_notifications(row: TicketEvent) -> None:
    """Kinds some rule listens to are handed to the notification rules once committed."""
    from .notifications import NOTIFYING_EVENTS, notify_after_commit

    if row.actor_kind == ActorKind.IMPORT:
        return  # imported history is the past: nobody is told about it now
    if row.kind in NOTIFYING_EVENTS:
        event_id = row.pk
        transaction.on_commit(lambda: notify_after_commit(event_id))


def event_record(
    *,
    ticket: Ticket,
    kind: str,
    actor: Any = None,
    actor_contact: Contact | None = None,
    actor_kind: str,
    payload: Any,
    occurred_at: datetime | None = None,
    dedupe_key: str | None = None,
) -> TicketEvent:
    """`event_record_once` without the flag: the written row, or the one already holding
    `dedupe_key`."""
    return event_record_once(
        ticket=ticket,
        kind=kind,
        actor=actor,
        actor_contact=actor_contact,
        actor_kind=actor_kind,
        payload=payload,
        occurred_at=occurred_at,
        dedupe_key=dedupe_key,
    )[0]


def already_recorded(dedupe_key: str | None) -> bool:
    """Whether an action keyed so has been done. Services check it after locking the ticket,
    so two runs of the same keyed action on one ticket do it once."""
    return bool(dedupe_key) and TicketEvent.objects.filter(dedupe_key=dedupe_key).exists()

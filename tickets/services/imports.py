"""Importing past tickets (`import_history`): each one replayed through the services with its
real times, as actor kind import, exactly as the history tells it.

`ticket_import` writes one `ImportedTicket` (parsed by `tickets.history_import`) in one
transaction. Replay means: every event at its own `at` (`occurred_at`, message `created_at`),
no rule-driven follow-ups the history does not contain (no automatic assignment, status or
unassignment: `replay=True`), nothing sent (no delivery for an agent reply, no
acknowledgement) and nothing announced (`announcements_off`: no live pushes, no automation);
only the ticket's search document is scheduled after commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group as AuthGroup
from django.db import connection, transaction
from django.db.models import F

from .. import event_types as et
from ..history_import import ImportedEvent, ImportedTicket
from ..identities import InvalidIdentity
from ..models import (
    ActorKind,
    AgentProfile,
    Contact,
    Group,
    Identity,
    Message,
    Organisation,
    Ticket,
    TicketEvent,
    TicketImport,
)
from ..roles import Role, is_agent
from .common import ServiceError, _lock, announcements_off
from .contacts import contact_resolve
from .history import event_record
from .lifecycle import (
    ticket_assign,
    ticket_create,
    ticket_set_group,
    ticket_set_priority,
    ticket_set_status,
    ticket_set_tags,
)
from .messages import ticket_auto_message, ticket_note, ticket_reply

IMPORT = ActorKind.IMPORT


class ImportRefused(ServiceError):
    """A well-formed line this desk cannot take as it stands (an unknown agent or group)."""


@dataclass(frozen=True)
class ImportResult:
    external_id: str
    number: int
    already_imported: bool
    created: tuple[str, ...] = ()  # "agent x@y", "group Billing" made for this line


def dedupe_key(external_id: str, index: int | str) -> str:
    """The key of the `index`th event of an imported ticket (1-based, as in the file)."""
    return f"import:{external_id}:{index}"


@transaction.atomic
def ticket_import(*, record: ImportedTicket, create_missing: bool = False) -> ImportResult:
    """Write one past ticket, or find the one an earlier import made of the same
    `external_id` (then nothing changes). Unknown agents and groups refuse the line
    (`ImportRefused`) unless `create_missing` makes them: agents inactive, with no usable
    password, groups empty. Serialised per external id (a transaction advisory lock), so two
    imports of one file running at once make each ticket once."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s))", [f"import:{record.external_id}"]
        )
    done = (
        TicketImport.objects.filter(external_id=record.external_id)
        .values_list("ticket__number", flat=True)
        .first()
    )
    if done is not None:
        return ImportResult(record.external_id, done, already_imported=True)
    created: list[str] = []
    agents = _agents(record, create_missing, created)
    groups = _groups(record, create_missing, created)
    with announcements_off():
        ticket = _replay(record, agents, groups)
    TicketImport.objects.create(external_id=record.external_id, ticket=ticket)
    ticket_id = ticket.pk
    # Imported history gets its SLA results from the same replay as a live ticket (nothing
    # was announced, so the live path did not run): due times, achieved and breached.
    from ..sla_services import ticket_sla_recompute

    ticket_sla_recompute(ticket_id=ticket_id)
    transaction.on_commit(lambda: _schedule_search(ticket_id))
    return ImportResult(record.external_id, ticket.number, False, tuple(created))


def _schedule_search(ticket_id: int) -> None:
    from ..search import index

    index.schedule_ticket_refresh([ticket_id])


def _agents(record: ImportedTicket, create_missing: bool, created: list[str]) -> dict[str, Any]:
    User = get_user_model()
    found: dict[str, Any] = {}
    unknown: list[str] = []
    for email in sorted(record.agents):
        users = list(User.objects.filter(email__iexact=email).order_by("id"))
        agent = next((u for u in users if is_agent(u)), None)
        if agent is not None:
            found[email] = agent
        elif users:
            raise ImportRefused(f"{email} is a customer's login, not an agent")
        else:
            unknown.append(email)
    if unknown and not create_missing:
        raise ImportRefused(
            f"unknown agent{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
            "(--create-missing creates them as inactive agents)"
        )
    for email in unknown:
        found[email] = _create_agent(email)
        created.append(f"agent {email}")
    return found


def _create_agent(email: str) -> Any:
    """An agent who existed in the old desk: named on the history, unable to sign in here."""
    User = get_user_model()
    username = email[:150]
    suffix = 1
    while User.objects.filter(username=username).exists():
        suffix += 1
        username = f"{email[:140]}.{suffix}"
    user = User(username=username, email=email, is_active=False)
    user.set_unusable_password()
    user.save()
    user.groups.add(AuthGroup.objects.get_or_create(name=Role.AGENT.value)[0])
    AgentProfile.objects.create(user=user, display_name=email.split("@")[0][:100])
    return user


def _groups(record: ImportedTicket, create_missing: bool, created: list[str]) -> dict[str, Group]:
    found: dict[str, Group] = {}
    unknown: list[str] = []
    for name in sorted(record.groups):
        group = Group.objects.filter(name__iexact=name).first()
        if group is not None:
            found[name] = group
        else:
            unknown.append(name)
    if unknown and not create_missing:
        raise ImportRefused(
            f"unknown group{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
            "(--create-missing creates them)"
        )
    for name in unknown:
        found[name] = Group.objects.create(name=name[:100])
        created.append(f"group {name}")
    return found


def _replay(record: ImportedTicket, agents: dict[str, Any], groups: dict[str, Group]) -> Ticket:
    first = record.events[0]
    try:
        contact = contact_resolve(
            kind=Identity.Kind.EMAIL, value=record.contact.email, name=record.contact.name
        )
    except InvalidIdentity as exc:
        raise ImportRefused(f"contact: {exc}") from exc
    organisation = None
    if record.organisation:
        organisation = Organisation.objects.filter(name__iexact=record.organisation).first()
        if organisation is None:
            organisation = Organisation.objects.create(name=record.organisation[:200])
        if contact.organisation_id is None:
            contact.organisation = organisation
            contact.save(update_fields=["organisation"])
    ticket = ticket_create(
        contact=contact,
        subject=record.subject,
        text=first.text,
        channel=record.channel,
        actor_kind=IMPORT,
        group=groups[record.group] if record.group else None,
        priority=record.priority,
        created_at=first.at,
    )
    if organisation is not None and ticket.organisation_id != organisation.pk:
        # the ticket belonged to the organisation the history names, wherever the person is now
        ticket.organisation = organisation
        ticket.save(update_fields=["organisation"])
    if record.tags:
        ticket_set_tags(
            ticket=ticket,
            names=record.tags,
            actor=None,
            actor_kind=IMPORT,
            occurred_at=first.at,
            dedupe_key=dedupe_key(record.external_id, "tags"),
        )
    for index, event in enumerate(record.events[1:], start=2):
        _replay_event(
            ticket,
            event,
            key=dedupe_key(record.external_id, index),
            contact=contact,
            agents=agents,
            groups=groups,
        )
    ticket.refresh_from_db()
    return ticket


def _replay_event(
    ticket: Ticket,
    event: ImportedEvent,
    *,
    key: str,
    contact: Contact,
    agents: dict[str, Any],
    groups: dict[str, Group],
) -> None:
    at = event.at
    agent = agents[event.agent] if event.agent else None
    if event.kind == "customer_message":
        _customer_message(ticket, contact=contact, text=event.text, at=at, key=key)
    elif event.kind in ("agent_reply", "bot_reply"):
        ticket_reply(
            ticket=ticket,
            author=agent,
            text=event.text,
            actor_kind=IMPORT,
            occurred_at=at,
            dedupe_key=key,
            replay=True,
            bot=event.kind == "bot_reply",
        )
    elif event.kind == "note":
        ticket_note(
            ticket=ticket,
            author=agent,
            text=event.text,
            actor_kind=IMPORT,
            occurred_at=at,
            dedupe_key=key,
        )
    elif event.kind == "auto_message":
        ticket_auto_message(
            ticket=ticket,
            subject=ticket.subject,
            text=event.text,
            channel=ticket.channel,
            channel_account_id=None,
            external_id="",
            metadata={"imported": True},
            actor_kind=IMPORT,
            occurred_at=at,
            dedupe_key=key,
        )
    elif event.kind == "status":
        ticket_set_status(
            ticket=ticket,
            status=event.status,
            actor=None,
            actor_kind=IMPORT,
            occurred_at=at,
            dedupe_key=key,
        )
    elif event.kind == "priority":
        ticket_set_priority(
            ticket=ticket,
            priority=event.priority,
            actor=None,
            actor_kind=IMPORT,
            occurred_at=at,
            dedupe_key=key,
        )
    elif event.kind == "assign":
        ticket_assign(
            ticket=ticket,
            agent=agent,
            actor=None,
            actor_kind=IMPORT,
            occurred_at=at,
            dedupe_key=key,
            replay=True,
        )
    elif event.kind == "group":
        ticket_set_group(
            ticket=ticket,
            group=groups[event.group] if event.group else None,
            actor=None,
            actor_kind=IMPORT,
            occurred_at=at,
            dedupe_key=key,
            replay=True,
        )
    elif event.kind == "csat":
        event_record(
            ticket=Ticket.objects.get(pk=ticket.pk),  # the snapshot fields as they are now
            kind=TicketEvent.Kind.CSAT,
            actor_contact=contact,
            actor_kind=IMPORT,
            payload=et.Csat(rating=event.rating, comment=event.comment),
            occurred_at=at,
            dedupe_key=key,
        )
    else:  # the parser admits only the kinds above
        raise ImportRefused(f"unknown event kind {event.kind!r}")


def _customer_message(
    ticket: Ticket, *, contact: Contact, text: str, at: datetime, key: str
) -> None:
    """The customer's later message, as it was: appended with no threading and no automatic
    reopening (`message_ingest` would reopen a pending ticket and follow up a closed one; the
    history says what the status did)."""
    ticket = _lock(ticket)
    if TicketEvent.objects.filter(dedupe_key=key).exists():
        return
    message = Message.objects.create(
        ticket=ticket,
        kind=Message.Kind.CUSTOMER,
        channel=ticket.channel,
        author_contact=contact,
        subject=f"Re: {ticket.subject}"[:300] if ticket.channel == "email" else "",
        text=text,
        created_at=at,
    )
    ticket.updated_at = max(at, ticket.updated_at)
    ticket.last_customer_message_at = at
    ticket.message_count = F("message_count") + 1
    ticket.save(update_fields=["updated_at", "last_customer_message_at", "message_count"])
    ticket.refresh_from_db(fields=["message_count"])
    event_record(
        ticket=ticket,
        kind=TicketEvent.Kind.MESSAGE,
        actor_contact=contact,
        actor_kind=IMPORT,
        payload=et.CustomerMessage(message=message.pk, channel=ticket.channel),
        occurred_at=at,
        dedupe_key=key,
    )

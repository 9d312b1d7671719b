"""Every change to the core domain: one function per use case, one transaction each.

Each change writes its TicketEvent in the same transaction as the change, and announces itself
after commit (`tickets.events.ticket_changed`) for live screens and automation.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from . import events
from .identities import InvalidIdentity, normalise
from .models import (
    Attachment,
    Channel,
    Contact,
    Group,
    Identity,
    Message,
    Participant,
    Tag,
    Ticket,
    TicketEvent,
)
from .types import IncomingAttachment, IncomingMessage, IngestResult

log = logging.getLogger(__name__)


class ServiceError(ValueError):
    """A change the rules do not allow; the message is shown to the person who asked."""


# --- contacts -------------------------------------------------------------------------------


def _find_identity(kind: str, value: str) -> Identity | None:
    kinds = [kind]
    # A WhatsApp number and a phone number are the same person's number.
    if kind in (Identity.Kind.WHATSAPP, Identity.Kind.PHONE):
        kinds = [Identity.Kind.WHATSAPP, Identity.Kind.PHONE]
    found = {i.kind: i for i in Identity.objects.filter(kind__in=kinds, value=value)}
    return found.get(kind) or next(iter(found.values()), None)


def contact_resolve(*, kind: str, value: str, name: str = "") -> Contact:
    """The contact owning this identity, created with it when unknown. Safe under races."""
    normalised = normalise(kind, value)
    identity = _find_identity(kind, normalised)
    if identity is not None:
        contact = identity.contact
        if identity.kind != kind:  # same number seen on another channel: remember it
            identity_add(contact=contact, kind=kind, value=normalised)
        if name and not contact.name:
            contact.name = name[:200]
            contact.save(update_fields=["name"])
        return _follow_merge(contact)
    try:
        with transaction.atomic():
            contact = Contact.objects.create(
                name=name[:200], organisation=_org_for(kind, normalised)
            )
            Identity.objects.create(contact=contact, kind=kind, value=normalised)
            return contact
    except IntegrityError:
        # Another worker created the same identity between our read and write.
        return _follow_merge(Identity.objects.get(kind=kind, value=normalised).contact)


def _follow_merge(contact: Contact) -> Contact:
    seen = 0
    while contact.merged_into_id is not None and seen < 10:
        contact = Contact.objects.get(pk=contact.merged_into_id)
        seen += 1
    return contact


def _org_for(kind: str, value: str) -> Any:
    from .models import Organisation

    if kind != Identity.Kind.EMAIL or "@" not in value:
        return None
    domain = value.rsplit("@", 1)[1]
    for org in Organisation.objects.exclude(domains="").only("id", "domains"):
        if domain in {d.strip().lower() for d in org.domains.split(",")}:
            return org
    return None


def identity_add(*, contact: Contact, kind: str, value: str) -> Identity:
    normalised = normalise(kind, value)
    existing = Identity.objects.filter(kind=kind, value=normalised).first()
    if existing is not None:
        if existing.contact_id != contact.pk:
            raise ServiceError(f"{kind} {normalised} already belongs to another contact.")
        return existing
    return Identity.objects.create(contact=contact, kind=kind, value=normalised)


@transaction.atomic
def contact_merge(*, source: Contact, target: Contact, actor: Any) -> Contact:
    """Move every identity, ticket and message of `source` to `target`; `source` stays as a
    tombstone pointing at `target` so old links and late messages still resolve."""
    if source.pk == target.pk:
        raise ServiceError("A contact cannot be merged into itself.")
    source = Contact.objects.select_for_update().get(pk=source.pk)
    target = Contact.objects.select_for_update().get(pk=target.pk)
    Identity.objects.filter(contact=source).update(contact=target)
    ticket_ids = list(Ticket.objects.filter(contact=source).values_list("id", flat=True))
    Ticket.objects.filter(contact=source).update(contact=target)
    Message.objects.filter(author_contact=source).update(author_contact=target)
    for participant in Participant.objects.filter(contact=source):
        if Participant.objects.filter(ticket_id=participant.ticket_id, contact=target).exists():
            participant.delete()
        else:
            participant.contact = target
            participant.save(update_fields=["contact"])
    TicketEvent.objects.bulk_create(
        TicketEvent(
            ticket_id=tid,
            kind=TicketEvent.Kind.CONTACT,
            actor=actor,
            old={"contact": source.pk, "name": source.display_name},
            new={"contact": target.pk, "name": target.display_name, "reason": "contacts merged"},
        )
        for tid in ticket_ids
    )
    if not target.name and source.name:
        target.name = source.name
    if target.organisation_id is None and source.organisation_id:
        target.organisation_id = source.organisation_id
    target.updated_at = timezone.now()
    target.save(update_fields=["name", "organisation", "updated_at"])
    source.merged_into = target
    source.save(update_fields=["merged_into"])
    return target


# --- tickets --------------------------------------------------------------------------------


def _event(
    ticket: Ticket,
    kind: str,
    *,
    actor: Any = None,
    actor_contact: Contact | None = None,
    old: Any = None,
    new: Any = None,
) -> TicketEvent:
    return TicketEvent.objects.create(
        ticket=ticket,
        kind=kind,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        actor_contact=actor_contact,
        old=old,
        new=new,
    )


def _announce(ticket: Ticket, kind: str) -> None:
    ticket_id, number, group_id = ticket.pk, ticket.number, ticket.group_id

    def send() -> None:
        events.ticket_changed.send(
            sender=Ticket, ticket_id=ticket_id, number=number, group_id=group_id, kind=kind
        )

    transaction.on_commit(send)


def _store_attachments(message: Message, attachments: Iterable[IncomingAttachment]) -> None:
    for item in attachments:
        digest = hashlib.sha256(item.payload).hexdigest()
        att = Attachment(
            message=message,
            filename=item.filename[:255] or "attachment",
            content_type=item.content_type[:200] or "application/octet-stream",
            size=len(item.payload),
            sha256=digest,
            content_id=item.content_id[:255],
            inline=item.inline,
        )
        att.file.save(att.filename, ContentFile(item.payload), save=False)
        att.save()


def _lock(ticket: Ticket) -> Ticket:
    return Ticket.objects.select_for_update().get(pk=ticket.pk)


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


def _thread_target(incoming: IncomingMessage, contact: Contact) -> tuple[Ticket | None, str]:
    """Which ticket this message continues, and a flag when the sender is a stranger to it.

    Order: an explicit target (chat conversation), References/In-Reply-To against earlier
    messages' ids, the ticket's reply token, then (for conversational channels) the contact's
    open ticket. A reply token or reference from someone who is neither the requester nor a
    participant does not make them the customer of that ticket: by reference (hard to guess,
    it was in our mail) the message is kept on the ticket but flagged; by token alone, a new
    ticket is opened instead.
    """
    if incoming.target_ticket_id:
        ticket = Ticket.objects.filter(pk=incoming.target_ticket_id).first()
        if ticket is not None:
            return _resolve_merged(ticket), ""
    if incoming.thread_refs:
        earlier = (
            Message.objects.filter(external_id__in=list(incoming.thread_refs)[-50:])
            .select_related("ticket")
            .order_by("-created_at")
            .first()
        )
        if earlier is not None:
            ticket = _resolve_merged(earlier.ticket)
            if _is_party(ticket, contact):
                return ticket, ""
            return ticket, f"Sender {incoming.identity_value} is not a participant of this ticket."
    if incoming.reply_token:
        ticket = Ticket.objects.filter(reply_token=incoming.reply_token).first()
        if ticket is not None:
            ticket = _resolve_merged(ticket)
            if _is_party(ticket, contact):
                return ticket, ""
    if incoming.continue_open_ticket:
        ticket = (
            Ticket.objects.filter(
                contact=contact, status__in=Ticket.ACTIVE_STATUSES, merged_into__isnull=True
            )
            .order_by("-updated_at")
            .first()
        )
        if ticket is not None:
            return ticket, ""
    return None, ""


def _resolve_merged(ticket: Ticket) -> Ticket:
    hops = 0
    while ticket.merged_into_id is not None and hops < 10:
        ticket = Ticket.objects.get(pk=ticket.merged_into_id)
        hops += 1
    return ticket


def _is_party(ticket: Ticket, contact: Contact) -> bool:
    if ticket.contact_id == contact.pk:
        return True
    return Participant.objects.filter(ticket=ticket, contact=contact).exists()


def message_ingest(*, incoming: IncomingMessage) -> IngestResult:
    """Thread one normalised inbound message: resolve the contact, find or open the ticket,
    append the message. Idempotent: a message whose (account, external id) is already stored
    returns the stored one and changes nothing. Locks the ticket row while appending."""
    with transaction.atomic():
        if incoming.external_id and incoming.channel_account_id is not None:
            existing = (
                Message.objects.filter(
                    channel_account_id=incoming.channel_account_id,
                    external_id=incoming.external_id,
                )
                .select_related("ticket")
                .first()
            )
            if existing is not None:
                return IngestResult(
                    existing.ticket_id,
                    existing.ticket.number,
                    existing.pk,
                    created_ticket=False,
                    duplicate=True,
                )
        try:
            contact = contact_resolve(
                kind=incoming.identity_kind,
                value=incoming.identity_value,
                name=incoming.sender_name,
            )
        except InvalidIdentity as exc:
            raise ServiceError(str(exc)) from exc
        ticket, flag = _thread_target(incoming, contact)
        now = incoming.received_at or timezone.now()
        follow_up_of: int | None = None
        if ticket is not None and ticket.status == Ticket.Status.CLOSED:
            # A closed ticket stays closed (its metrics are final): the answer opens a
            # follow-up that points back at it.
            follow_up_of, ticket, flag = ticket.number, None, ""
        if ticket is None:
            group = (
                Group.objects.filter(pk=incoming.group_id).first() if incoming.group_id else None
            )
            ticket = ticket_create(
                contact=contact,
                subject=incoming.subject,
                text=incoming.text,
                html=incoming.html,
                channel=incoming.channel,
                group=group,
                channel_account_id=incoming.channel_account_id,
                external_id=incoming.external_id,
                attachments=incoming.attachments,
                created_at=now,
            )
            message = ticket.messages.get()
            if follow_up_of is not None:
                incoming = replace(
                    incoming, metadata={**incoming.metadata, "follow_up_of": follow_up_of}
                )
            _message_extras(message, incoming, flag="")
            _add_participants(ticket, contact, incoming.cc)
            return IngestResult(
                ticket.pk, ticket.number, message.pk, created_ticket=True, duplicate=False
            )
        ticket = _lock(ticket)
        message = Message.objects.create(
            ticket=ticket,
            kind=Message.Kind.CUSTOMER,
            channel=incoming.channel,
            author_contact=contact,
            channel_account_id=incoming.channel_account_id,
            external_id=incoming.external_id,
            subject=incoming.subject[:300],
            text=incoming.text,
            html=incoming.html,
            created_at=now,
        )
        _message_extras(message, incoming, flag=flag)
        _store_attachments(message, incoming.attachments)
        fields = ["updated_at", "message_count"]
        ticket.updated_at = max(now, ticket.updated_at)
        ticket.message_count = F("message_count") + 1
        if not flag and not incoming.is_automatic:
            ticket.last_customer_message_at = now
            fields.append("last_customer_message_at")
            if ticket.status in (Ticket.Status.PENDING, Ticket.Status.SOLVED):
                reopen_from = ticket.status
                ticket.status = Ticket.Status.OPEN
                fields.append("status")
                _event(
                    ticket,
                    TicketEvent.Kind.STATUS,
                    actor_contact=contact,
                    old=reopen_from,
                    new=Ticket.Status.OPEN,
                )
        ticket.save(update_fields=fields)
        ticket.refresh_from_db(fields=["message_count"])
        if not flag:  # a stranger's CC list grants nobody a place on the ticket
            _add_participants(ticket, None, incoming.cc)
        _event(
            ticket,
            TicketEvent.Kind.MESSAGE,
            actor_contact=contact,
            new={"message": message.pk, "channel": incoming.channel, "flag": flag},
        )
        _announce(ticket, "message")
        return IngestResult(
            ticket.pk,
            ticket.number,
            message.pk,
            created_ticket=False,
            duplicate=False,
            flagged=flag,
        )


def _message_extras(message: Message, incoming: IncomingMessage, *, flag: str) -> None:
    message.sender = incoming.identity_value[:320]
    message.recipients = list(incoming.recipients) + list(incoming.cc)
    message.is_automatic = incoming.is_automatic
    message.flag = flag
    message.metadata = dict(incoming.metadata)
    message.save(update_fields=["sender", "recipients", "is_automatic", "flag", "metadata"])


def _add_participants(ticket: Ticket, requester: Contact | None, cc: Iterable[str]) -> None:
    for address in cc:
        try:
            person = contact_resolve(kind=Identity.Kind.EMAIL, value=address)
        except InvalidIdentity:
            continue
        if person.pk == ticket.contact_id or (requester and person.pk == requester.pk):
            continue
        Participant.objects.get_or_create(ticket=ticket, contact=person)


@transaction.atomic
def ticket_reply(
    *,
    ticket: Ticket,
    author: Any,
    text: str,
    html: str = "",
    status: str | None = None,
    channel: str | None = None,
    attachments: Sequence[IncomingAttachment] = (),
) -> Message:
    """An agent's public reply. Sends `reply_posted` inside the transaction so the channel
    edge records the delivery atomically with the message."""
    if not text.strip():
        raise ServiceError("A reply needs some text.")
    ticket = _lock(ticket)
    now = timezone.now()
    message = Message.objects.create(
        ticket=ticket,
        kind=Message.Kind.REPLY,
        channel=channel or ticket.channel,
        author_user=author,
        channel_account_id=ticket.channel_account_id,
        subject=ticket.subject,
        text=text,
        html=html,
        created_at=now,
    )
    _store_attachments(message, attachments)
    fields = ["updated_at", "last_agent_message_at", "message_count"]
    ticket.updated_at = now
    ticket.last_agent_message_at = now
    ticket.message_count = F("message_count") + 1
    if ticket.first_response_at is None:
        ticket.first_response_at = now
        fields.append("first_response_at")
    if ticket.assignee_id is None and author is not None:
        ticket.assignee = author
        fields.append("assignee")
        _event(ticket, TicketEvent.Kind.ASSIGNEE, actor=author, old=None, new=author.pk)
    new_status = status or (
        Ticket.Status.PENDING
        if ticket.status in (Ticket.Status.NEW, Ticket.Status.OPEN)
        else ticket.status
    )
    if new_status != ticket.status:
        _set_status_fields(ticket, new_status, fields, actor=author)
    ticket.save(update_fields=fields)
    ticket.refresh_from_db(fields=["message_count"])
    _event(ticket, TicketEvent.Kind.REPLY, actor=author, new={"message": message.pk})
    events.reply_posted.send(sender=Message, message=message)
    _announce(ticket, "reply")
    return message


@transaction.atomic
def ticket_note(*, ticket: Ticket, author: Any, text: str) -> Message:
    if not text.strip():
        raise ServiceError("A note needs some text.")
    ticket = _lock(ticket)
    now = timezone.now()
    message = Message.objects.create(
        ticket=ticket,
        kind=Message.Kind.NOTE,
        channel=ticket.channel,
        author_user=author,
        text=text,
        created_at=now,
    )
    ticket.updated_at = now
    ticket.message_count = F("message_count") + 1
    ticket.save(update_fields=["updated_at", "message_count"])
    _event(ticket, TicketEvent.Kind.NOTE, actor=author, new={"message": message.pk})
    _announce(ticket, "note")
    return message


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
    from .roles import is_agent, sees_all_tickets

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
    from .roles import sees_all_tickets

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


@transaction.atomic
def ticket_merge(*, source: Ticket, target: Ticket, actor: Any) -> Ticket:
    """Move every message of `source` into `target` and close `source` pointing at it."""
    if source.pk == target.pk:
        raise ServiceError("A ticket cannot be merged into itself.")
    first, second = sorted([source.pk, target.pk])  # lock in id order: no deadlock
    locked = {t.pk: t for t in Ticket.objects.select_for_update().filter(pk__in=[first, second])}
    source, target = locked[source.pk], locked[target.pk]
    if source.merged_into_id or target.merged_into_id:
        raise ServiceError("One of these tickets was already merged.")
    moved = Message.objects.filter(ticket=source).update(ticket=target)
    for participant in Participant.objects.filter(ticket=source):
        Participant.objects.get_or_create(ticket=target, contact_id=participant.contact_id)
    if source.contact_id != target.contact_id:
        Participant.objects.get_or_create(ticket=target, contact_id=source.contact_id)
    target.message_count = Message.objects.filter(ticket=target).count()
    target.updated_at = timezone.now()
    target.save(update_fields=["message_count", "updated_at"])
    source.merged_into = target
    fields = ["merged_into", "updated_at", "message_count"]
    source.message_count = 0
    source.updated_at = timezone.now()
    if source.status != Ticket.Status.CLOSED:
        _set_status_fields(source, Ticket.Status.CLOSED, fields, actor=actor)
    source.save(update_fields=fields)
    _event(source, TicketEvent.Kind.MERGED, actor=actor, new={"into": target.number})
    _event(
        target, TicketEvent.Kind.MERGED, actor=actor, new={"from": source.number, "messages": moved}
    )
    _announce(source, "merged")
    _announce(target, "merged")
    return target


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


@transaction.atomic
def contact_update(
    *, contact: Contact, name: str, organisation: Organisation | None, notes: str
) -> Contact:
    """Set a contact's own details (identities change through `identity_add`, merges through
    `contact_merge`). Tickets keep the organisation they were opened under."""
    contact.name = name.strip()[:200]
    contact.organisation = organisation
    contact.notes = notes
    contact.updated_at = timezone.now()
    contact.save(update_fields=["name", "organisation", "notes", "updated_at"])
    return contact


from .models import Organisation  # noqa: E402  (for contact_update's annotation)

# --- email channel additions (automatic messages, inline images) ------------------------------


@transaction.atomic
def ticket_auto_message(
    *,
    ticket: Ticket,
    subject: str,
    text: str,
    channel: str,
    channel_account_id: int | None,
    external_id: str,
    metadata: dict[str, Any],
) -> Message:
    """A message the desk sends on its own (an acknowledgement): kind SYSTEM, no author, and
    no effect on status or response times. The channel edge records and sends its delivery."""
    ticket = _lock(ticket)
    message = Message.objects.create(
        ticket=ticket,
        kind=Message.Kind.SYSTEM,
        channel=channel,
        channel_account_id=channel_account_id,
        external_id=external_id,
        subject=subject[:300],
        text=text,
        is_automatic=True,
        metadata=metadata,
        created_at=timezone.now(),
    )
    ticket.message_count = F("message_count") + 1
    ticket.save(update_fields=["message_count"])
    ticket.refresh_from_db(fields=["message_count"])
    _announce(ticket, "message")
    return message


def message_link_inline_images(*, message: Message) -> int:
    """Point the message's sanitised HTML `cid:` images at its stored inline attachments
    (`/desk/attachments/<id>/inline/`, an agent-only view serving image/* only). Returns how
    many references were linked; unknown cids are left as they are (they show as broken)."""
    import re

    if "cid:" not in message.html:
        return 0
    cid_src = re.compile(r"""(\bsrc\s*=\s*)(["'])cid:([^"'>\s]+)\2""", re.IGNORECASE)
    by_cid = {
        _cid_key(cid): pk
        for pk, cid in Attachment.objects.filter(message=message)
        .exclude(content_id="")
        .values_list("pk", "content_id")
    }
    linked = 0

    def swap(match: re.Match[str]) -> str:
        nonlocal linked
        pk = by_cid.get(_cid_key(match.group(3)))
        if pk is None:
            return match.group(0)
        linked += 1
        return f"{match.group(1)}{match.group(2)}/desk/attachments/{pk}/inline/{match.group(2)}"

    html = cid_src.sub(swap, message.html)
    if linked:
        message.html = html
        message.save(update_fields=["html"])
    return linked


def _cid_key(value: str) -> str:
    from urllib.parse import unquote

    return unquote(value).strip().strip("<>").lower()


@transaction.atomic
def call_log(
    *, ticket: Ticket, agent: Any, direction: str, duration_seconds: int, notes: str
) -> Message:
    """An agent records a phone call they took or made: an internal note whose metadata holds
    the call (`{"call": {direction, duration_seconds, notes, agent}}`), and its event.
    Locks the ticket."""
    from .roles import is_agent

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


@transaction.atomic
def contact_link_user(*, user: Any, email: str) -> Contact:
    """Give a portal login its contact: the one owning this (verified) email, else a new one.

    A contact already linked to another login is left alone and a new contact is not made for
    the same address: the identity stays with its owner."""
    existing = Contact.objects.filter(user=user).first()
    if existing is not None:
        return existing
    value = normalise(Identity.Kind.EMAIL, email)
    identity = (
        Identity.objects.select_related("contact")
        .filter(kind=Identity.Kind.EMAIL, value=value)
        .first()
    )
    name = user.get_full_name() if hasattr(user, "get_full_name") else ""
    if identity is None:
        contact = Contact.objects.create(
            name=name[:200], user=user, organisation=_org_for(Identity.Kind.EMAIL, value)
        )
        Identity.objects.create(
            contact=contact, kind=Identity.Kind.EMAIL, value=value, verified=True
        )
        return contact
    contact = _follow_merge(identity.contact)
    if contact.user_id is not None and contact.user_id != user.pk:
        raise ServiceError(f"{value} already belongs to another login.")
    contact.user = user
    contact.save(update_fields=["user"])
    identity.verified = True
    identity.save(update_fields=["verified"])
    return contact


# --- reply addresses ------------------------------------------------------------------------


def ticket_add_reply_address(
    *, ticket: Ticket, author: Contact, address: str, same_person: bool
) -> str:
    """Record the address a customer asked us to answer at (email's Reply-To) as a party to
    the ticket, so the answer that comes back from it is not a stranger's.

    `same_person` (the channel decides: same domain and same name or mailbox) makes it another
    identity of `author`; otherwise, or when it already belongs to someone else, its contact
    becomes a participant. Call only for a message that is not flagged (a stranger's Reply-To
    grants nothing). Idempotent. Returns "identity", "participant" or "" (nothing changed)."""
    try:
        value = normalise(Identity.Kind.EMAIL, address)
    except InvalidIdentity:
        return ""
    with transaction.atomic():
        owner = _find_identity(Identity.Kind.EMAIL, value)
        if owner is None and same_person:
            try:
                with transaction.atomic():
                    Identity.objects.create(contact=author, kind=Identity.Kind.EMAIL, value=value)
                return "identity"
            except IntegrityError:  # another worker recorded it first; treat it as theirs
                owner = Identity.objects.get(kind=Identity.Kind.EMAIL, value=value)
        person = (
            _follow_merge(owner.contact)
            if owner is not None
            else contact_resolve(kind=Identity.Kind.EMAIL, value=value)
        )
        if person.pk in (author.pk, ticket.contact_id):
            return ""
        _, created = Participant.objects.get_or_create(ticket=ticket, contact=person)
        return "participant" if created else ""

"""Messages on a ticket: threading an inbound message (ingest), agents' replies and notes, the
desk's automatic messages, inline images."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .. import event_types as et
from .. import events
from ..identities import InvalidIdentity
from ..models import (
    ActorKind,
    Attachment,
    Contact,
    Group,
    Identity,
    Message,
    Participant,
    Ticket,
    TicketEvent,
)
from ..types import IncomingAttachment, IncomingMessage, IngestResult
from .common import ServiceError, _announce, _lock, _store_attachments
from .contacts import contact_resolve
from .history import actor_kind_of, event_record
from .lifecycle import _set_status_fields, ticket_create


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
        previous: Ticket | None = None
        if ticket is not None and ticket.status == Ticket.Status.CLOSED:
            # A closed ticket stays closed (its metrics are final): the answer opens a
            # follow-up that points back at it.
            previous, ticket, flag = ticket, None, ""
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
                automatic=incoming.is_automatic,
            )
            message = ticket.messages.get()
            if previous is not None:
                incoming = replace(
                    incoming, metadata={**incoming.metadata, "follow_up_of": previous.number}
                )
                _link_follow_up(previous, ticket, contact, now)
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
                ticket.status_changed_at = now
                fields.extend(["status", "status_changed_at"])
                event_record(
                    ticket=ticket,
                    kind=TicketEvent.Kind.STATUS,
                    actor_contact=contact,
                    actor_kind=ActorKind.CUSTOMER,
                    payload=et.StatusChange(
                        old=reopen_from, new=Ticket.Status.OPEN, reason="customer replied"
                    ),
                    occurred_at=now,
                )
        ticket.save(update_fields=fields)
        ticket.refresh_from_db(fields=["message_count"])
        if not flag:  # a stranger's CC list grants nobody a place on the ticket
            _add_participants(ticket, None, incoming.cc)
        event_record(
            ticket=ticket,
            kind=TicketEvent.Kind.MESSAGE,
            actor_contact=contact,
            actor_kind=ActorKind.CUSTOMER,
            payload=et.CustomerMessage(
                message=message.pk,
                channel=incoming.channel,
                flag=flag,
                automatic=incoming.is_automatic,
            ),
            occurred_at=now,
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


def _link_follow_up(previous: Ticket, ticket: Ticket, contact: Contact, now: datetime) -> None:
    """Both tickets record the link: the closed one and the follow-up that answers it."""
    link = et.FollowUp(previous=previous.number, next=ticket.number)
    for side in (previous, ticket):
        event_record(
            ticket=side,
            kind=TicketEvent.Kind.FOLLOW_UP,
            actor_contact=contact,
            actor_kind=ActorKind.CUSTOMER,
            payload=link,
            occurred_at=now,
        )
    _announce(previous, "follow_up")


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
    actor_kind: str | None = None,
    occurred_at: datetime | None = None,
    dedupe_key: str | None = None,
    replay: bool = False,
    bot: bool = False,
) -> Message:
    """A public reply: an agent's (REPLY) or, with `actor_kind=bot`, the answer bot's
    (BOT_REPLY: no first response, no assignment, the status unchanged unless given). Sends
    `reply_posted` inside the transaction so the channel edge records the delivery atomically
    with the message. With a `dedupe_key` already used, returns that reply and sends nothing.

    `replay=True` records a reply from imported history: it reached the customer long ago, so
    `reply_posted` is not sent (no delivery is made), and it changes no other field by itself
    (no automatic assignment or status; the history says what changed). Response times
    (`first_response_at`, `last_agent_message_at`) are still kept. `bot=True` makes it the
    bot's answer (BOT_REPLY) whatever `actor_kind` says (an imported bot answer is actor kind
    import)."""
    if not text.strip():
        raise ServiceError("A reply needs some text.")
    ticket = _lock(ticket)
    done = _keyed_message(dedupe_key)
    if done is not None:
        return done
    kind = actor_kind or actor_kind_of(author)
    by_bot = bot or kind == ActorKind.BOT
    now = occurred_at or timezone.now()
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
    fields = ["updated_at", "message_count"]
    ticket.updated_at = max(now, ticket.updated_at)
    ticket.message_count = F("message_count") + 1
    if not by_bot:
        ticket.last_agent_message_at = now
        fields.append("last_agent_message_at")
        if ticket.first_response_at is None:
            ticket.first_response_at = now
            fields.append("first_response_at")
    if ticket.assignee_id is None and author is not None and not by_bot and not replay:
        ticket.assignee = author
        fields.append("assignee")
        event_record(
            ticket=ticket,
            kind=TicketEvent.Kind.ASSIGNEE,
            actor=author,
            actor_kind=kind,
            payload=et.AssigneeChange(old=None, new=author.pk),
            occurred_at=now,
        )
    new_status = status or (
        Ticket.Status.PENDING
        if ticket.status in (Ticket.Status.NEW, Ticket.Status.OPEN) and not by_bot and not replay
        else ticket.status
    )
    if new_status != ticket.status:
        _set_status_fields(
            ticket, new_status, fields, actor=author, actor_kind=kind, now=now, reason="replied"
        )
    ticket.save(update_fields=fields)
    ticket.refresh_from_db(fields=["message_count"])
    event_record(
        ticket=ticket,
        kind=TicketEvent.Kind.BOT_REPLY if by_bot else TicketEvent.Kind.REPLY,
        actor=author,
        actor_kind=kind,
        payload=(et.BotReply if by_bot else et.AgentReply)(
            message=message.pk, channel=message.channel
        ),
        occurred_at=now,
        dedupe_key=dedupe_key,
    )
    if not replay:
        events.reply_posted.send(sender=Message, message=message)
    _announce(ticket, "reply")
    return message


MENTION = re.compile(r"(?<![\w@.])@([\w.+-]+)")


def note_mentions(*, ticket: Ticket, text: str) -> list[int]:
    """The ids of the agents `@named` in `text` who may see the ticket, in order of mention."""
    from .notifications import ticket_audience

    names = [m.group(1).rstrip(".-") for m in MENTION.finditer(text)]
    names = [n for n in dict.fromkeys(names) if n][:20]
    if not names:
        return []
    found = dict(ticket_audience(ticket).filter(username__in=names).values_list("username", "pk"))
    return [found[n] for n in names if n in found]


def _keyed_message(dedupe_key: str | None) -> Message | None:
    """The message an already-done keyed action wrote (call with the ticket locked)."""
    if not dedupe_key:
        return None
    done = TicketEvent.objects.filter(dedupe_key=dedupe_key).first()
    if done is None:
        return None
    return Message.objects.filter(pk=done.payload.get("message")).first()


@transaction.atomic
def ticket_note(
    *,
    ticket: Ticket,
    author: Any,
    text: str,
    actor_kind: str | None = None,
    occurred_at: datetime | None = None,
    dedupe_key: str | None = None,
) -> Message:
    """An internal note (by an agent, or by automation with `author=None`). `@username` of an
    agent who can see the ticket is a mention (stored on the message, notified after commit);
    any other `@word` stays plain text."""
    if not text.strip():
        raise ServiceError("A note needs some text.")
    ticket = _lock(ticket)
    done = _keyed_message(dedupe_key)
    if done is not None:
        return done
    now = occurred_at or timezone.now()
    mentioned = note_mentions(ticket=ticket, text=text)
    message = Message.objects.create(
        ticket=ticket,
        kind=Message.Kind.NOTE,
        channel=ticket.channel,
        author_user=author,
        text=text,
        created_at=now,
        metadata={"mentions": mentioned} if mentioned else {},
    )
    ticket.updated_at = max(now, ticket.updated_at)
    ticket.message_count = F("message_count") + 1
    ticket.save(update_fields=["updated_at", "message_count"])
    event_record(
        ticket=ticket,
        kind=TicketEvent.Kind.NOTE,
        actor=author,
        actor_kind=actor_kind or actor_kind_of(author),
        payload=et.Note(message=message.pk),
        occurred_at=now,
        dedupe_key=dedupe_key,
    )
    _announce(ticket, "note")
    return message


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
    actor_kind: str = ActorKind.SYSTEM,
    occurred_at: datetime | None = None,
    dedupe_key: str | None = None,
) -> Message:
    """A message the desk sends on its own (an acknowledgement; a trigger's, with
    `actor_kind=automation`): kind SYSTEM, no author, and no effect on status or response
    times (its event is AUTO_MESSAGE, never a reply). The channel edge records and sends its
    delivery."""
    ticket = _lock(ticket)
    done = _keyed_message(dedupe_key)
    if done is not None:
        return done
    now = occurred_at or timezone.now()
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
        created_at=now,
    )
    ticket.message_count = F("message_count") + 1
    ticket.save(update_fields=["message_count"])
    ticket.refresh_from_db(fields=["message_count"])
    event_record(
        ticket=ticket,
        kind=TicketEvent.Kind.AUTO_MESSAGE,
        actor_kind=actor_kind,
        payload=et.AutoMessage(
            message=message.pk, channel=channel, purpose=str(metadata.get("purpose", ""))[:100]
        ),
        occurred_at=now,
        dedupe_key=dedupe_key,
    )
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

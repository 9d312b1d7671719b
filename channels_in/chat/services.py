"""Every change a live chat makes: the visitor's session and messages, the agent's accept,
reply, transfer and end. Each pushes what changed to the conversation's channel-layer group
after commit, so a screen never shows what the database does not hold.

A visitor message takes the same road as any inbound message: stored raw, normalised, threaded
by `tickets.services.message_ingest`. It is processed at once, in the socket's request, rather
than by a worker: a chat is a conversation and a second of queueing is a second of silence.

Lock order, everywhere: the ticket row before the conversation row (threading a message locks
the ticket and then numbers its line; accepting a chat assigns the ticket and then marks the
conversation), so a visitor writing while an agent acts never deadlocks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from tickets import services as ticket_services
from tickets.identities import InvalidIdentity, normalise_email
from tickets.models import Contact, Group, Identity, Ticket
from tickets.services import ServiceError
from tickets.types import IncomingAttachment

from ..config import ChatConfig
from ..errors import DeliveryError
from ..models import ChannelAccount, ChatConversation, ChatLine, InboundMessage, OutboundDelivery
from ..services import delivery_send, inbound_process, inbound_store
from . import presence, selectors
from .parser import encode_message
from .tokens import new_visitor_id, visitor_from_token, visitor_token

log = logging.getLogger(__name__)


class EmailRequired(ServiceError):
    """Nobody can answer live: the visitor must leave an email address for the reply."""


def conversation_group(conversation_id: int) -> str:
    return f"chat.conv.{conversation_id}"


# The agents' inboxes hear when a chat starts waiting, is taken, moves or ends (not every line:
# those go only to whoever has that chat open). Grouped like the desk: by team, plus one for
# supervisors and admins, plus one per assignee.
INBOX_ALL = "chat.inbox.all"


def inbox_group(group_id: int | None) -> str:
    return f"chat.inbox.group.{group_id}" if group_id else "chat.inbox.nogroup"


def inbox_user(user_id: int) -> str:
    return f"chat.inbox.user.{user_id}"


def _send_after_commit(groups: list[str], event: dict[str, Any]) -> None:
    """Send `event` to the groups' sockets once the current transaction commits."""

    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        try:
            for group in groups:
                async_to_sync(layer.group_send)(group, event)
        except Exception:  # noqa: BLE001 - the line is stored; a reconnect replays it
            log.warning("chat push to %s failed", groups, exc_info=True)

    transaction.on_commit(send)


def _push(conversation_id: int, event: dict[str, Any]) -> None:
    _send_after_commit([conversation_group(conversation_id)], event)


# --- availability and sessions --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Availability:
    online: bool
    reason: str  # "online", "closed" (outside opening hours) or "no_agents"


def chat_availability(
    *, account: ChannelAccount, config: ChatConfig, at: datetime | None = None
) -> Availability:
    if not config.is_open(at or timezone.now()):
        return Availability(False, "closed")
    if not presence.agents_online(account):
        return Availability(False, "no_agents")
    return Availability(True, "online")


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    visitor_id: str
    conversation: ChatConversation


def visitor_session_start(
    *, account: ChannelAccount, token: str, name: str, email: str, page_url: str = ""
) -> Session:
    """The visitor's current conversation (a new one when they have none open), recognising a
    returning visitor by their signed token. Name and email are optional; an invalid email
    raises ServiceError."""
    name = " ".join(name.split())[:200]
    cleaned_email = ""
    if email.strip():
        try:
            cleaned_email = normalise_email(email)
        except InvalidIdentity as exc:
            raise ServiceError("That email address does not look right.") from exc
    visitor_id = visitor_from_token(token, account_id=account.pk) or new_visitor_id()
    with transaction.atomic():
        conversation = (
            ChatConversation.objects.select_for_update()
            .filter(
                account=account, visitor_id=visitor_id, status__in=ChatConversation.OPEN_STATUSES
            )
            .order_by("-id")
            .first()
        )
        if conversation is None:
            previous = selectors.latest_conversation(account_id=account.pk, visitor_id=visitor_id)
            conversation = ChatConversation.objects.create(
                account=account,
                visitor_id=visitor_id,
                visitor_name=name or (previous.visitor_name if previous else ""),
                visitor_email=cleaned_email or (previous.visitor_email if previous else ""),
                # a new email is linked afresh (`visitor_link_email`) at the first message
                contact=(
                    previous.contact
                    if previous and cleaned_email in ("", previous.visitor_email)
                    else None
                ),
                page_url=page_url[:500],
            )
        else:
            fields = []
            if name and name != conversation.visitor_name:
                conversation.visitor_name = name
                conversation.contact = None  # relinked at the next message, with the name
                fields += ["visitor_name", "contact"]
            if cleaned_email and cleaned_email != conversation.visitor_email:
                conversation.visitor_email = cleaned_email
                conversation.contact = None  # linked afresh at the next message
                fields += ["visitor_email", "contact"]
            if fields:
                conversation.save(update_fields=fields)
    return Session(
        visitor_token(account_id=account.pk, visitor_id=visitor_id), visitor_id, conversation
    )


def _is_anonymous(contact: Contact) -> bool:
    return (
        contact.user_id is None and not contact.identities.exclude(kind=Identity.Kind.CHAT).exists()
    )


def visitor_label(*, name: str, page_url: str) -> str:
    """What agents call a visitor: the name they gave, else where they chatted from
    ("Visitor from shop.example.com/pricing"), never the widget's raw token."""
    if name.strip():
        return name.strip()
    parts = urlsplit(page_url)
    where = (parts.netloc + parts.path.rstrip("/")) if parts.netloc else ""
    if not where:
        return str(_("Chat visitor"))
    if len(where) > 80:
        where = where[:79] + "…"
    return str(_("Visitor from %(page)s") % {"page": where})


def visitor_link_email(*, conversation: ChatConversation) -> Contact:
    """The visitor's contact, with the email from the pre-chat form attached.

    When that email already belongs to someone, an anonymous visitor (only chat identities, no
    login) is merged into that contact, so the chat joins their history. A visitor who is
    already someone else is never merged on their word alone: the conversation records why,
    and an agent can merge the two contacts."""
    label = visitor_label(name="", page_url=conversation.page_url)
    contact = ticket_services.contact_resolve(
        kind=Identity.Kind.CHAT,
        value=conversation.visitor_id,
        name=conversation.visitor_name or label,
    )
    if conversation.visitor_name and contact.name == label:
        # the visitor told us their name after we had to call them by their page
        contact = ticket_services.contact_update(
            contact=contact,
            name=conversation.visitor_name,
            organisation=contact.organisation,
            notes=contact.notes,
        )
    note = ""
    email = conversation.visitor_email
    if email:
        owner = Identity.objects.filter(kind=Identity.Kind.EMAIL, value=email).first()
        if owner is None:
            ticket_services.identity_add(contact=contact, kind=Identity.Kind.EMAIL, value=email)
        else:
            target = ticket_services.contact_resolve(kind=Identity.Kind.EMAIL, value=email)
            if target.pk != contact.pk:
                if _is_anonymous(contact):
                    contact = ticket_services.contact_merge(
                        source=contact, target=target, actor=None
                    )
                else:
                    note = (
                        f"{email} belongs to another contact ({target.display_name}); "
                        "not linked: merge the contacts if they are one person"
                    )
    if conversation.contact_id != contact.pk or conversation.email_note != note:
        ChatConversation.objects.filter(pk=conversation.pk).update(
            contact=contact, email_note=note[:300]
        )
        conversation.contact, conversation.email_note = contact, note[:300]
    return contact


# --- lines ----------------------------------------------------------------------------------


def line_append(
    *, conversation: ChatConversation, kind: str, message_id: int | None = None, text: str = ""
) -> ChatLine:
    """Number and store one line, then push it. A message already shown keeps its line (a
    retried delivery or a resent frame adds nothing). Locks the conversation row: a caller
    that also locks the ticket must have locked it first."""
    with transaction.atomic():
        conv = ChatConversation.objects.select_for_update().get(pk=conversation.pk)
        if message_id is not None:
            existing = ChatLine.objects.filter(message_id=message_id).first()
            if existing is not None:
                return existing
        conv.last_seq += 1
        conv.last_activity_at = timezone.now()
        conv.save(update_fields=["last_seq", "last_activity_at"])
        line = ChatLine.objects.create(
            conversation=conv, seq=conv.last_seq, kind=kind, message_id=message_id, text=text
        )
        conversation.last_seq = conv.last_seq
        payload = selectors.line_payload(selectors.lines_queryset().get(pk=line.pk))
        _push(conv.pk, {"type": "chat.line", "line": payload})
    return line


def _push_status(conversation: ChatConversation, *, also_group: int | None = None) -> None:
    """Tell the conversation's sockets its new state, and the inboxes that may list it (and
    `also_group`'s, the team a transfer took it from)."""
    conversation = ChatConversation.objects.select_related(
        "agent__agent_profile", "ticket", "account"
    ).get(pk=conversation.pk)
    _push(conversation.pk, {"type": "chat.status", **selectors.conversation_state(conversation)})
    team = conversation.ticket.group_id if conversation.ticket else conversation.account.group_id
    inboxes = [INBOX_ALL, inbox_group(team)]
    if also_group and also_group != team:
        inboxes.append(inbox_group(also_group))
    if conversation.agent_id:
        inboxes.append(inbox_user(conversation.agent_id))
    _send_after_commit(
        inboxes,
        {"type": "chat.inbox", "conversation": conversation.pk, "status": conversation.status},
    )


# --- the visitor ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Posted:
    conversation: ChatConversation
    line: ChatLine
    new_conversation: bool


def visitor_message_post(
    *,
    conversation: ChatConversation,
    config: ChatConfig,
    text: str,
    client_id: str,
    attachment: IncomingAttachment | None = None,
) -> Posted:
    """Store, thread and show one visitor message. Safe to repeat with the same `client_id`
    (a widget resending after a reconnect): the second time changes nothing.

    A message after the conversation ended starts a new one. The first message decides how the
    conversation runs: live when an agent who may answer is online within opening hours, else
    as a message answered by email (which then needs the visitor's email address)."""
    new_conversation = False
    if conversation.status == ChatConversation.Status.ENDED:
        conversation = ChatConversation.objects.create(
            account_id=conversation.account_id,
            visitor_id=conversation.visitor_id,
            visitor_name=conversation.visitor_name,
            visitor_email=conversation.visitor_email,
            contact_id=conversation.contact_id,
            page_url=conversation.page_url,
        )
        new_conversation = True
    offline = conversation.status == ChatConversation.Status.OFFLINE
    if conversation.status == ChatConversation.Status.NEW:
        offline = not chat_availability(account=conversation.account, config=config).online
        if offline and not conversation.visitor_email:
            raise EmailRequired("Nobody is online: leave your email address and we will reply.")
    raw = encode_message(
        conversation_id=conversation.pk,
        visitor_id=conversation.visitor_id,
        client_id=client_id,
        text=text,
        offline=offline,
        page_url=conversation.page_url,
        attachment=attachment,
    )
    stored = inbound_store(
        account=conversation.account,
        external_id=f"chat:{conversation.pk}:{client_id}",
        raw=raw,
        content_type="application/json",
        process=False,
    )
    inbound = inbound_process(inbound_id=stored.inbound.pk)
    if inbound.status != InboundMessage.Status.PROCESSED or inbound.message_id is None:
        raise ServiceError(f"Your message could not be taken: {inbound.reason}")
    # the line was numbered in the same transaction as the message (`visitor_line_add`)
    line = ChatLine.objects.select_related("conversation").get(message_id=inbound.message_id)
    return Posted(line.conversation, line, new_conversation)


def visitor_line_add(
    *, conversation_id: int, ticket_id: int, message_id: int, offline: bool
) -> ChatLine:
    """Inside the ingest transaction, right after the message is threaded (the ticket row is
    locked): tie the conversation to its ticket and number the message's line."""
    conv = ChatConversation.objects.select_for_update().get(pk=conversation_id)
    fields = []
    if conv.ticket_id != ticket_id:
        conv.ticket_id = ticket_id
        fields.append("ticket")
    if conv.status == ChatConversation.Status.NEW:
        conv.status = (
            ChatConversation.Status.OFFLINE if offline else ChatConversation.Status.WAITING
        )
        fields.append("status")
    if fields:
        conv.save(update_fields=fields)
    line = line_append(conversation=conv, kind=ChatLine.Kind.VISITOR, message_id=message_id)
    if "status" in fields:
        _push_status(conv)
    return line


def visitor_seen(*, conversation: ChatConversation, seq: int) -> int:
    """The visitor's widget showed every line up to `seq`: the agents' lines become read."""
    conversation.refresh_from_db(fields=["last_seq", "visitor_seen_seq"])
    seq = min(seq, conversation.last_seq)
    if seq <= conversation.visitor_seen_seq:
        return 0
    from ..services import delivery_update_status

    provider_ids = [
        f"chat:{conversation.pk}:{n}"
        for n in ChatLine.objects.filter(
            conversation=conversation,
            kind=ChatLine.Kind.AGENT,
            seq__gt=conversation.visitor_seen_seq,
            seq__lte=seq,
        ).values_list("seq", flat=True)
    ]
    ChatConversation.objects.filter(pk=conversation.pk, visitor_seen_seq__lt=seq).update(
        visitor_seen_seq=seq
    )
    conversation.visitor_seen_seq = seq
    return sum(
        delivery_update_status(provider_id=p, status=OutboundDelivery.Status.READ)
        for p in provider_ids
    )


# --- the agent ------------------------------------------------------------------------------


def _ticket_of(conversation: ChatConversation) -> Ticket:
    if conversation.ticket_id is None:
        raise ServiceError("This chat has no message yet.")
    return Ticket.objects.get(pk=conversation.ticket_id)


def _lock_ticket_then_chat(
    conversation: ChatConversation,
) -> tuple[Ticket | None, ChatConversation]:
    """Lock the conversation's ticket, then the conversation (the order every path keeps)."""
    current = ChatConversation.objects.get(pk=conversation.pk)
    ticket = None
    if current.ticket_id is not None:
        ticket = Ticket.objects.select_for_update().get(pk=current.ticket_id)
    conv = ChatConversation.objects.select_for_update().get(pk=conversation.pk)
    if conv.ticket_id != current.ticket_id:
        raise ServiceError("This chat changed meanwhile; try again.")
    return ticket, conv


@transaction.atomic
def chat_accept(*, conversation: ChatConversation, agent: Any) -> ChatConversation:
    """The agent takes a waiting chat: the ticket is assigned to them and the visitor told."""
    ticket, conv = _lock_ticket_then_chat(conversation)
    if conv.status not in (ChatConversation.Status.WAITING, ChatConversation.Status.ACTIVE):
        raise ServiceError("This chat is not waiting for an agent.")
    if conv.status == ChatConversation.Status.ACTIVE and conv.agent_id not in (None, agent.pk):
        raise ServiceError("Another agent already took this chat.")
    if conv.agent_id == agent.pk and conv.status == ChatConversation.Status.ACTIVE:
        return conv
    if ticket is None:
        raise ServiceError("This chat has no message yet.")
    ticket_services.ticket_assign(ticket=ticket, agent=agent, actor=agent)
    conv.agent = agent
    conv.status = ChatConversation.Status.ACTIVE
    conv.accepted_at = conv.accepted_at or timezone.now()
    conv.save(update_fields=["agent", "status", "accepted_at"])
    line_append(
        conversation=conv,
        kind=ChatLine.Kind.SYSTEM,
        text=f"{selectors.person(agent)['name']} joined the chat.",
    )
    _push_status(conv)
    return conv


@transaction.atomic
def chat_transfer(
    *, conversation: ChatConversation, actor: Any, agent: Any = None, group: Group | None = None
) -> ChatConversation:
    """Hand the chat to another agent, or back to a group's waiting list."""
    if agent is None and group is None:
        raise ServiceError("Choose an agent or a group to transfer to.")
    ticket, conv = _lock_ticket_then_chat(conversation)
    if conv.status not in (ChatConversation.Status.WAITING, ChatConversation.Status.ACTIVE):
        raise ServiceError("Only a live chat can be transferred.")
    if ticket is None:
        raise ServiceError("This chat has no message yet.")
    previous_group = ticket.group_id
    if group is not None:
        ticket = ticket_services.ticket_set_group(ticket=ticket, group=group, actor=actor)
    if agent is not None:
        ticket_services.ticket_assign(ticket=ticket, agent=agent, actor=actor)
        conv.agent = agent
        conv.status = ChatConversation.Status.ACTIVE
        notice = f"You are now chatting with {selectors.person(agent)['name']}."
    else:
        ticket_services.ticket_assign(ticket=ticket, agent=None, actor=actor)
        conv.agent = None
        conv.status = ChatConversation.Status.WAITING
        notice = "You are being transferred to a colleague; please hold on."
    conv.save(update_fields=["agent", "status"])
    line_append(conversation=conv, kind=ChatLine.Kind.SYSTEM, text=notice)
    _push_status(conv, also_group=previous_group)
    return conv


@transaction.atomic
def chat_end(*, conversation: ChatConversation, actor: Any) -> ChatConversation:
    """End the chat; its ticket is solved (a later message from the visitor reopens it)."""
    ticket, conv = _lock_ticket_then_chat(conversation)
    if conv.status == ChatConversation.Status.ENDED:
        return conv
    if ticket is not None:
        if ticket.status != Ticket.Status.CLOSED:
            ticket_services.ticket_set_status(
                ticket=ticket, status=Ticket.Status.SOLVED, actor=actor
            )
    conv.status = ChatConversation.Status.ENDED
    conv.ended_at = timezone.now()
    conv.save(update_fields=["status", "ended_at"])
    line_append(conversation=conv, kind=ChatLine.Kind.SYSTEM, text="The chat has ended.")
    _push_status(conv)
    return conv


def chat_agent_reply(*, conversation: ChatConversation, agent: Any, text: str) -> ChatLine | None:
    """The agent's answer: a ticket reply on the chat channel, delivered at once to the
    conversation (the queued delivery task then finds it sent). Accepts a waiting chat.
    Returns the line, or None when the delivery failed (the ticket shows why)."""
    if not text.strip():
        raise ServiceError("A reply needs some text.")
    if conversation.status == ChatConversation.Status.WAITING:
        conversation = chat_accept(conversation=conversation, agent=agent)
    message = ticket_services.ticket_reply(
        ticket=_ticket_of(conversation),
        author=agent,
        text=text,
        channel="chat",
        status=Ticket.Status.OPEN,
    )
    delivery = OutboundDelivery.objects.filter(message=message).first()
    if delivery is not None and delivery.status == OutboundDelivery.Status.QUEUED:
        try:
            delivery_send(delivery_id=delivery.pk)
        except DeliveryError:
            log.warning("chat reply %s: delivery left to the worker", message.pk, exc_info=True)
    return ChatLine.objects.filter(message=message).first()


def conversation_for_reply(*, ticket_id: int, visitor_id: str) -> ChatConversation | None:
    """Where an agent's chat reply on this ticket goes: the ticket's latest conversation, else
    the visitor's latest one."""
    conversation = ChatConversation.objects.filter(ticket_id=ticket_id).order_by("-id").first()
    if conversation is None and visitor_id:
        conversation = (
            ChatConversation.objects.filter(visitor_id=visitor_id).order_by("-id").first()
        )
    return conversation

"""Live chat on the one pipeline: a stored visitor frame to an IncomingMessage, and an agent's
chat reply to a numbered line pushed to the visitor's socket."""

from __future__ import annotations

from tickets.models import Channel, Identity, Ticket
from tickets.types import IncomingMessage, IngestResult

from ..errors import DeliveryError, Rejected
from ..models import ChannelKind, ChatConversation, ChatLine, InboundMessage, OutboundDelivery
from ..services import register_deliverer, register_normaliser, register_post_ingest
from .parser import parse_chat
from .services import (
    conversation_for_reply,
    line_append,
    visitor_label,
    visitor_line_add,
    visitor_link_email,
)


@register_normaliser(ChannelKind.CHAT)
def normalise_chat(inbound: InboundMessage) -> IncomingMessage:
    payload = parse_chat(bytes(inbound.raw))
    conversation = ChatConversation.objects.filter(
        pk=payload.conversation_id, account_id=inbound.account_id, visitor_id=payload.visitor_id
    ).first()
    if conversation is None:
        raise Rejected(f"no conversation {payload.conversation_id} for this visitor")
    if conversation.contact_id is None:  # first message, or a new email was given
        visitor_link_email(conversation=conversation)
    metadata = {
        "chat": {
            "conversation": conversation.pk,
            "client_id": payload.client_id,
            "page": payload.page_url,
            "offline": payload.offline,
        }
    }
    subject = ""
    if not payload.text.strip() and payload.attachment is not None:
        subject = f"File from the chat: {payload.attachment.filename}"
    return IncomingMessage(
        # Left while nobody was online: the ticket is answered by email, so it is an email one.
        channel=Channel.EMAIL if payload.offline else Channel.CHAT,
        identity_kind=Identity.Kind.CHAT,
        identity_value=conversation.visitor_id,
        sender_name=visitor_label(name=conversation.visitor_name, page_url=conversation.page_url),
        subject=subject,
        text=payload.text,
        channel_account_id=inbound.account_id,
        external_id=inbound.external_id,
        received_at=inbound.received_at,
        continue_open_ticket=True,
        target_ticket_id=conversation.ticket_id,
        attachments=(payload.attachment,) if payload.attachment is not None else (),
        group_id=inbound.account.group_id,
        metadata=metadata,
    )


@register_post_ingest(ChannelKind.CHAT)
def after_chat_ingest(
    inbound: InboundMessage, incoming: IncomingMessage, result: IngestResult
) -> None:
    chat = incoming.metadata["chat"]
    visitor_line_add(
        conversation_id=chat["conversation"],
        ticket_id=result.ticket_id,
        message_id=result.message_id,
        offline=bool(chat["offline"]),
    )


@register_deliverer(ChannelKind.CHAT)
def deliver_chat(delivery: OutboundDelivery) -> str:
    message = delivery.message
    conversation = conversation_for_reply(
        ticket_id=message.ticket_id, visitor_id=delivery.recipient
    )
    if conversation is None:
        raise DeliveryError("no live chat with this visitor to answer in", permanent=True)
    # the lock order of every chat path: the ticket, then the conversation
    Ticket.objects.select_for_update().filter(pk=message.ticket_id).first()
    line = line_append(conversation=conversation, kind=ChatLine.Kind.AGENT, message_id=message.pk)
    return f"chat:{conversation.pk}:{line.seq}"

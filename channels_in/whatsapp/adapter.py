"""WhatsApp on the one pipeline: a stored event to an IncomingMessage or a receipt, and an
agent's reply through the Cloud API, inside the 24-hour customer service window or as the
approved template outside it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.dispatch import receiver
from django.utils import timezone

from tickets.events import reply_channel_note
from tickets.models import Channel, Identity, Message, Ticket
from tickets.types import IncomingAttachment, IncomingMessage

from ..config import ConfigError, WhatsAppConfig, load_config
from ..errors import DeliveryError, Ignored, Rejected, UnknownEvent
from ..models import ChannelKind, InboundMessage, OutboundDelivery
from ..receivers import account_for
from ..services import register_deliverer, register_normaliser
from ..webhooks import (
    ProviderError,
    Receipt,
    delivery_config,
    location_text,
    register_receipts,
)
from .client import WhatsAppClient
from .parser import parse_message, parse_status

WINDOW = timedelta(hours=24)


def _event(inbound: InboundMessage) -> tuple[str, dict[str, Any]]:
    try:
        data = json.loads(bytes(inbound.raw))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Rejected(f"stored WhatsApp event is not JSON: {exc}") from exc
    return str(data.get("event")), data


def _message(inbound: InboundMessage, payload: dict[str, Any]) -> IncomingMessage:
    message = parse_message(payload)
    if message.kind == "reaction":
        raise Ignored(f"reaction {message.text} to message {message.reply_to}")
    metadata: dict[str, Any] = {
        "whatsapp": {"id": message.message_id, "type": message.kind, "wa_id": message.wa_id}
    }
    text = message.text
    attachments: tuple[IncomingAttachment, ...] = ()
    if message.media_id:
        metadata["media"] = [
            {
                "id": message.media_id,
                "mime_type": message.media_type,
                "file_name": message.file_name,
            }
        ]
        attachments, error = _download(
            inbound,
            message.media_id,
            message.media_type,
            message.file_name or f"{message.kind}-{message.media_id}",
        )
        if error:
            metadata["media_errors"] = [error]
            text = (text + "\n\n" if text else "") + f"[{message.kind} not downloaded: {error}]"
    if message.latitude is not None and message.longitude is not None:
        metadata["location"] = {
            "latitude": message.latitude,
            "longitude": message.longitude,
            "title": message.place,
        }
        text = (text + "\n\n" if text else "") + location_text(
            message.latitude, message.longitude, message.place
        )
    if message.reply_to:
        metadata["whatsapp"]["reply_to"] = message.reply_to
    return IncomingMessage(
        channel=Channel.WHATSAPP,
        identity_kind=Identity.Kind.WHATSAPP,
        identity_value=message.wa_id,
        sender_name=message.name,
        subject="" if text.strip() else f"WhatsApp {message.kind}",
        text=text.strip(),
        channel_account_id=inbound.account_id,
        external_id=message.message_id,
        received_at=message.sent_at,
        continue_open_ticket=True,
        attachments=attachments,
        group_id=inbound.account.group_id,
        metadata=metadata,
    )


def _download(
    inbound: InboundMessage, media_id: str, mime: str, name: str
) -> tuple[tuple[IncomingAttachment, ...], str]:
    try:
        config: WhatsAppConfig = load_config(inbound.account)
        if not config.download_media:
            return (), ""
        content, content_type = WhatsAppClient(config).download_media(
            media_id, max_bytes=settings.HELPDESK_MAX_ATTACHMENT_BYTES
        )
    except (ProviderError, ConfigError) as exc:
        return (), str(exc)
    return (
        IncomingAttachment(filename=name, content_type=mime or content_type, payload=content),
    ), ""


HANDLERS: dict[str, Callable[[InboundMessage, dict[str, Any]], IncomingMessage]] = {
    "message": _message,
}


@register_normaliser(ChannelKind.WHATSAPP)
def normalise_whatsapp(inbound: InboundMessage) -> IncomingMessage:
    event, payload = _event(inbound)
    handler = HANDLERS.get(event)
    if handler is None:
        raise UnknownEvent(f"WhatsApp event {event!r} is not handled")
    return handler(inbound, payload)


@register_receipts(ChannelKind.WHATSAPP)
def whatsapp_receipts(inbound: InboundMessage) -> Iterable[Receipt]:
    event, payload = _event(inbound)
    if event != "status":
        raise UnknownEvent(f"WhatsApp event {event!r} is not a receipt")
    return [parse_status(payload)]


def last_customer_message_at(contact_id: int) -> Any:
    return (
        Message.objects.filter(
            ticket__contact_id=contact_id, channel=Channel.WHATSAPP, kind=Message.Kind.CUSTOMER
        )
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )


def window_note(*, contact_id: int, config: WhatsAppConfig | None) -> str:
    """What an agent should know before answering by WhatsApp: until when free text may go,
    or, outside the window, that the approved template goes instead (or nothing can)."""
    last = last_customer_message_at(contact_id)
    if last is not None and timezone.now() - last < WINDOW:
        return f"free text until {timezone.localtime(last + WINDOW):%Y-%m-%d %H:%M}"
    if config is None or not config.template_name:
        return "outside the 24-hour window and no approved template: this reply cannot be sent"
    return f"outside the 24-hour window: sends the approved template “{config.template_name}”" + (
        " with your text" if config.template_takes_text else " (your text is not sent)"
    )


@receiver(reply_channel_note)
def note_whatsapp_window(sender: Any, *, ticket: Ticket, channel: str, **kwargs: Any) -> str:
    if channel != Channel.WHATSAPP:
        return ""
    account = account_for(ChannelKind.WHATSAPP, ticket.channel_account_id)
    config: WhatsAppConfig | None = None
    if account is not None:
        try:
            config = load_config(account)
        except ConfigError:
            config = None
    return window_note(contact_id=ticket.contact_id, config=config)


@register_deliverer(ChannelKind.WHATSAPP)
def send_whatsapp(delivery: OutboundDelivery) -> str:
    config: WhatsAppConfig = delivery_config(delivery, "WhatsApp")
    message = delivery.message
    to = delivery.recipient.lstrip("+")
    last = last_customer_message_at(message.ticket.contact_id)
    in_window = last is not None and timezone.now() - last < WINDOW
    if not in_window and not config.template_name:
        when = f"last one {timezone.localtime(last):%Y-%m-%d %H:%M}" if last else "none yet"
        raise DeliveryError(
            "WhatsApp allows free-form replies only within 24 hours of the customer's last "
            f"WhatsApp message ({when}). Configure an approved template for this number, or "
            "answer on another channel.",
            permanent=True,
        )
    client = WhatsAppClient(config)
    try:
        if in_window:
            return client.send_text(to=to, text=message.text)
        return client.send_template(
            to=to,
            name=config.template_name,
            language=config.template_language,
            text=message.text if config.template_takes_text else None,
        )
    except ProviderError as exc:
        raise exc.as_delivery_error("WhatsApp") from exc
    except ConfigError as exc:
        raise DeliveryError(f"WhatsApp: {exc}", permanent=True) from exc

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
from tickets.models import Attachment, Channel, Identity, Message, Ticket
from tickets.types import IncomingAttachment, IncomingMessage

from .. import parts
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
from .client import MAX_CAPTION, MAX_TEMPLATE_TEXT, MAX_TEXT, WhatsAppClient
from .parser import parse_message, parse_status

WINDOW = timedelta(hours=24)
MB = 1024 * 1024


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
    return [parts.reply_receipt(parse_status(payload), channel=ChannelKind.WHATSAPP)]


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
    """What an agent should know before answering by WhatsApp: until when free text (and
    files) may go, or, outside the window, that the approved template goes instead (it
    carries no files) or nothing can."""
    last = last_customer_message_at(contact_id)
    if last is not None and timezone.now() - last < WINDOW:
        return f"free text until {timezone.localtime(last + WINDOW):%Y-%m-%d %H:%M}"
    if config is None or not config.template_name:
        return "outside the 24-hour window and no approved template: this reply cannot be sent"
    return (
        f"outside the 24-hour window: sends the approved template “{config.template_name}”"
        + (" with your text" if config.template_takes_text else " (your text is not sent)")
        + "; a reply with files is not sent"
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


# What the Cloud API shows as what (any other file goes as a document) and how big it may be.
MEDIA_KINDS = {
    "image/jpeg": "image",
    "image/png": "image",
    "video/mp4": "video",
    "video/3gpp": "video",
    "audio/aac": "audio",
    "audio/amr": "audio",
    "audio/mpeg": "audio",
    "audio/mp4": "audio",
    "audio/ogg": "audio",
}
MAX_BYTES = {"image": 5 * MB, "video": 16 * MB, "audio": 16 * MB, "document": 100 * MB}


def media_kind(content_type: str) -> str:
    return MEDIA_KINDS.get(content_type.split(";")[0].strip().lower(), "document")


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
    files = list(message.attachments.order_by("id"))
    if files and not in_window:
        raise DeliveryError(
            "WhatsApp: outside the 24-hour window only the approved template may go, and it "
            f"carries no files; nothing was sent ({len(files)} file(s) attached). Send the "
            "files on another channel, or this reply again without them.",
            permanent=True,
        )
    template_text = not in_window and config.template_takes_text
    if template_text and len(message.text) > MAX_TEMPLATE_TEXT:
        # one template message carries the text: it cannot be split across several
        raise DeliveryError(
            f"WhatsApp: outside the 24-hour window the approved template carries at most "
            f"{MAX_TEMPLATE_TEXT} characters of text (this reply: {len(message.text)}); "
            "nothing was sent. Shorten the reply, or answer on another channel.",
            permanent=True,
        )
    client = WhatsAppClient(config)
    try:
        if files:
            return _send_with_files(delivery, client, to=to, files=files)
        if in_window:
            return parts.send_parts(
                delivery, _text_parts(client, to=to, text=message.text), provider="WhatsApp"
            )
        # one part, so a worker dying mid-send is known to have had it in flight
        template = parts.Part(
            "template",
            "the template message",
            lambda: client.send_template(
                to=to,
                name=config.template_name,
                language=config.template_language,
                text=message.text if template_text else None,
            ),
        )
        return parts.send_parts(delivery, [template], provider="WhatsApp")
    except ProviderError as exc:
        raise exc.as_delivery_error("WhatsApp") from exc
    except ConfigError as exc:
        raise DeliveryError(f"WhatsApp: {exc}", permanent=True) from exc


def _text_parts(client: WhatsAppClient, *, to: str, text: str) -> list[parts.Part]:
    """The text as one message, or as several in order when it is longer than a message
    may be (never cut short)."""
    return parts.text_parts(text, MAX_TEXT, lambda piece: client.send_text(to=to, text=piece))


def _send_with_files(
    delivery: OutboundDelivery, client: WhatsAppClient, *, to: str, files: list[Attachment]
) -> str:
    """One message per file, the text as the first file's caption when it fits there (an
    image, video or document, at most 1,024 characters), else as message(s) of its own
    before them. Every file is uploaded before any message goes, so a file the API refuses fails
    the reply with nothing sent; uploads and messages are recorded, so a retry repeats
    neither."""
    too_big = [
        f"{a.filename} ({a.size // MB + 1} MB, {kind} limit {MAX_BYTES[kind] // MB} MB)"
        for a in files
        if a.size > MAX_BYTES[kind := media_kind(a.content_type)]
    ]
    if too_big:
        raise DeliveryError(
            "WhatsApp: file too large, nothing was sent: " + "; ".join(too_big), permanent=True
        )
    for attachment in files:
        key = f"file:{attachment.pk}"
        if not parts.recorded(delivery, key).get("media_id"):
            with attachment.file.open("rb") as handle:
                media_id = client.upload_media(
                    name=attachment.filename,
                    content_type=attachment.content_type,
                    content=handle.read(),
                )
            parts.record(delivery, key, media_id=media_id)
    text = delivery.message.text
    caption_first = bool(text) and len(text) <= MAX_CAPTION
    caption_first = caption_first and media_kind(files[0].content_type) != "audio"
    plan: list[parts.Part] = []
    if text and not caption_first:
        plan.extend(_text_parts(client, to=to, text=text))
    for index, attachment in enumerate(files):
        key = f"file:{attachment.pk}"

        def send(attachment: Attachment = attachment, key: str = key, index: int = index) -> str:
            return client.send_media(
                to=to,
                kind=media_kind(attachment.content_type),
                media_id=str(parts.recorded(delivery, key)["media_id"]),
                caption=text if index == 0 and caption_first else "",
                filename=attachment.filename,
            )

        label = attachment.filename + (" with the text" if index == 0 and caption_first else "")
        plan.append(parts.Part(key, label, send))
    return parts.send_parts(delivery, plan, provider="WhatsApp")

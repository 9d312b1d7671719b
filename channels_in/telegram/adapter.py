"""Telegram on the one pipeline: a stored update to an IncomingMessage, a reply to sendMessage."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings

from tickets.models import Channel, Identity
from tickets.types import IncomingAttachment, IncomingMessage

from .. import parts
from ..config import ConfigError, TelegramConfig, load_config
from ..errors import DeliveryError, Ignored, Rejected
from ..models import ChannelKind, InboundMessage, OutboundDelivery
from ..services import register_deliverer, register_normaliser
from ..webhooks import ProviderError, delivery_config, location_text
from .client import MAX_CAPTION, MAX_TEXT, TelegramClient
from .parser import MESSAGE_EVENTS, TelegramMessage, check_event, parse_message, update_event

log = logging.getLogger(__name__)


def _message(inbound: InboundMessage, update: dict[str, Any], event: str) -> IncomingMessage:
    message = parse_message(update, event)
    config: TelegramConfig = load_config(inbound.account)
    attachments, media_meta, errors = _fetch_media(message, config)
    text = message.text
    metadata: dict[str, Any] = {
        "telegram": {
            "chat_id": message.chat_id,
            "message_id": message.message_id,
            "username": message.username,
            "update_id": message.update_id,
        }
    }
    if media_meta:
        metadata["media"] = media_meta
    if errors:
        metadata["media_errors"] = errors
        text += "\n\n[" + "; ".join(errors) + "]"
    if message.location is not None:
        loc = message.location
        metadata["location"] = {
            "latitude": loc.latitude,
            "longitude": loc.longitude,
            "title": loc.title,
        }
        text = (text + "\n\n" if text else "") + location_text(
            loc.latitude, loc.longitude, loc.title
        )
    if event == "edited_message":
        metadata["edited"] = True
        text = "(edited) " + text
    return IncomingMessage(
        channel=Channel.TELEGRAM,
        identity_kind=Identity.Kind.TELEGRAM,
        identity_value=message.chat_id,
        sender_name=message.sender_name or message.username,
        text=text.strip(),
        channel_account_id=inbound.account_id,
        # an edit is a new message of ours with its own id: the original stays as it was
        external_id=message.external_id
        + (f":edit:{message.update_id}" if event == "edited_message" else ""),
        received_at=message.sent_at,
        thread_refs=(f"{message.chat_id}:{message.reply_to}",) if message.reply_to else (),
        continue_open_ticket=True,
        attachments=attachments,
        group_id=inbound.account.group_id,
        metadata=metadata,
    )


def _fetch_media(
    message: TelegramMessage, config: TelegramConfig
) -> tuple[tuple[IncomingAttachment, ...], list[dict[str, Any]], list[str]]:
    attachments: list[IncomingAttachment] = []
    meta: list[dict[str, Any]] = []
    errors: list[str] = []
    for media in message.media:
        meta.append(
            {
                "kind": media.kind,
                "file_id": media.file_id,
                "file_name": media.file_name,
                "mime_type": media.mime_type,
            }
        )
        if not config.download_media:
            continue
        try:
            content, content_type, name = TelegramClient(config).download_file(
                media.file_id, max_bytes=settings.HELPDESK_MAX_ATTACHMENT_BYTES
            )
        except (ProviderError, ConfigError) as exc:
            errors.append(f"{media.kind} not downloaded: {exc}")
            continue
        attachments.append(
            IncomingAttachment(
                filename=media.file_name or name or f"{media.kind}",
                content_type=media.mime_type or content_type,
                payload=content,
            )
        )
    return tuple(attachments), meta, errors


def _member(inbound: InboundMessage, update: dict[str, Any], event: str) -> IncomingMessage:
    change = update.get(event) or {}
    status = (change.get("new_chat_member") or {}).get("status", "?")
    raise Ignored(f"bot membership changed in chat {change.get('chat', {}).get('id')}: {status}")


HANDLERS: dict[str, Callable[[InboundMessage, dict[str, Any], str], IncomingMessage]] = {
    **{event: _message for event in MESSAGE_EVENTS},
    "my_chat_member": _member,
}


@register_normaliser(ChannelKind.TELEGRAM)
def normalise_telegram(inbound: InboundMessage) -> IncomingMessage:
    try:
        update = json.loads(bytes(inbound.raw))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Rejected(f"Telegram update is not JSON: {exc}") from exc
    _update_id, event = update_event(update)
    check_event(event, tuple(HANDLERS))
    return HANDLERS[event](inbound, update, event)


MAX_FILES = 10  # sendMediaGroup's limit


@register_deliverer(ChannelKind.TELEGRAM)
def send_telegram(delivery: OutboundDelivery) -> str:
    """The text as one message, or several in order when it is longer than a message may
    be; the files as one document or album under the text as caption when it fits there,
    else after the text's messages. Each message is recorded as it goes (`parts`), so a
    retry sends only what is missing."""
    config: TelegramConfig = delivery_config(delivery, "Telegram")
    message = delivery.message
    files = list(message.attachments.order_by("id"))
    if len(files) > MAX_FILES:
        # sendMediaGroup's limit; more would take several albums, which we do not split
        raise DeliveryError(
            f"Telegram takes at most {MAX_FILES} files in one message (this reply: "
            f"{len(files)} files); nothing was sent. Send some of them in another reply.",
            permanent=True,
        )
    chat = delivery.recipient
    try:
        client = TelegramClient(config)
        text = message.text
        caption = text if files and len(text) <= MAX_CAPTION else ""
        plan: list[parts.Part] = []
        if not files or (text and not caption):
            plan = parts.text_parts(
                text, MAX_TEXT, lambda piece: str(client.send_message(chat_id=chat, text=piece))
            )
        if files:

            def send_files() -> str:
                uploads = []
                for attachment in files:
                    with attachment.file.open("rb") as handle:
                        uploads.append(
                            (attachment.filename, attachment.content_type, handle.read())
                        )
                return str(client.send_documents(chat_id=chat, files=uploads, caption=caption))

            names = ", ".join(a.filename for a in files)
            plan.append(
                parts.Part("files", names + (" with the text" if caption else ""), send_files)
            )
        message_id = parts.send_parts(delivery, plan, provider="Telegram")
    except ProviderError as exc:
        raise exc.as_delivery_error("Telegram") from exc
    except ConfigError as exc:
        raise DeliveryError(f"Telegram: {exc}", permanent=True) from exc
    return f"{chat}:{message_id}"

"""Telegram on the one pipeline: a stored update to an IncomingMessage, a reply to sendMessage."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings

from tickets.models import Channel, Identity
from tickets.types import IncomingAttachment, IncomingMessage

from ..config import ConfigError, TelegramConfig, load_config
from ..errors import DeliveryError, Ignored, Rejected
from ..models import ChannelKind, InboundMessage, OutboundDelivery
from ..services import register_deliverer, register_normaliser
from ..webhooks import ProviderError, delivery_config, location_text
from .client import TelegramClient
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
MAX_CAPTION = 1024  # a caption's limit (a text message alone may have 4,096)


@register_deliverer(ChannelKind.TELEGRAM)
def send_telegram(delivery: OutboundDelivery) -> str:
    config: TelegramConfig = delivery_config(delivery, "Telegram")
    message = delivery.message
    files = list(message.attachments.order_by("id"))
    if len(files) > MAX_FILES or (files and len(message.text) > MAX_CAPTION):
        # one Bot API call per reply or none: a retry must never send half of it twice
        raise DeliveryError(
            f"Telegram takes at most {MAX_FILES} files under a text of at most {MAX_CAPTION} "
            f"characters in one message (this reply: {len(files)} files, "
            f"{len(message.text)} characters). Shorten it or send the files in another reply.",
            permanent=True,
        )
    try:
        client = TelegramClient(config)
        if files:
            uploads = []
            for attachment in files:
                with attachment.file.open("rb") as handle:
                    uploads.append((attachment.filename, attachment.content_type, handle.read()))
            message_id = client.send_documents(
                chat_id=delivery.recipient, files=uploads, caption=message.text
            )
        else:
            message_id = client.send_message(chat_id=delivery.recipient, text=message.text)
    except ProviderError as exc:
        raise exc.as_delivery_error("Telegram") from exc
    except ConfigError as exc:
        raise DeliveryError(f"Telegram: {exc}", permanent=True) from exc
    return f"{delivery.recipient}:{message_id}"

"""Messenger/Instagram on the one pipeline. Replies within 24 hours of the customer's last
message are standard; up to 7 days they carry the HUMAN_AGENT tag Meta allows for a person's
answer; later ones fail with the reason (Meta refuses them)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from tickets.models import Attachment, Channel, Identity, Message
from tickets.types import IncomingAttachment, IncomingMessage

from .. import parts
from ..config import ConfigError, MessengerConfig, load_config
from ..errors import DeliveryError, Ignored, Rejected, UnknownEvent
from ..models import ChannelKind, InboundMessage, OutboundDelivery
from ..services import register_deliverer, register_normaliser
from ..webhooks import ProviderError, Receipt, delivery_config, location_text, register_receipts
from .client import MAX_TEXT, MessengerClient
from .parser import identity_value, parse_message, recipient_id

STANDARD_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)


def _event(inbound: InboundMessage) -> tuple[str, dict[str, Any]]:
    try:
        data = json.loads(bytes(inbound.raw))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Rejected(f"stored Messenger event is not JSON: {exc}") from exc
    return str(data.get("event")), data


def _incoming(
    inbound: InboundMessage, payload: dict[str, Any], *, postback: bool = False
) -> IncomingMessage:
    message = parse_message(payload, postback=postback)
    text = message.text
    metadata: dict[str, Any] = {
        "messenger": {
            "platform": message.platform,
            "mid": message.message_id,
            "sender": message.sender_id,
        }
    }
    files: list[IncomingAttachment] = []
    media: list[dict[str, Any]] = []
    errors: list[str] = []
    for att in message.attachments:
        if att.kind == "location" and att.latitude is not None and att.longitude is not None:
            metadata["location"] = {
                "latitude": att.latitude,
                "longitude": att.longitude,
                "title": att.title,
            }
            text = (text + "\n\n" if text else "") + location_text(
                att.latitude, att.longitude, att.title
            )
            continue
        media.append({"type": att.kind, "url": att.url, "title": att.title})
        if att.kind not in ("image", "video", "audio", "file") or not att.url:
            text = (text + "\n\n" if text else "") + f"[{att.kind}] {att.title} {att.url}".strip()
            continue
        try:
            config: MessengerConfig = load_config(inbound.account)
            content, content_type = MessengerClient(config).download(
                att.url, max_bytes=settings.HELPDESK_MAX_ATTACHMENT_BYTES
            )
        except (ProviderError, ConfigError) as exc:
            errors.append(f"{att.kind} not downloaded: {exc}")
            continue
        name = att.url.split("?", 1)[0].rsplit("/", 1)[-1] or att.kind
        files.append(
            IncomingAttachment(filename=name[:200], content_type=content_type, payload=content)
        )
    if media:
        metadata["media"] = media
    if errors:
        metadata["media_errors"] = errors
        text = (text + "\n\n" if text else "") + "[" + "; ".join(errors) + "]"
    channel_label = "Instagram" if message.platform == "instagram" else "Messenger"
    return IncomingMessage(
        channel=Channel.MESSENGER,
        identity_kind=Identity.Kind.MESSENGER,
        identity_value=identity_value(message.platform, message.sender_id),
        subject="" if text.strip() else f"{channel_label} message",
        text=text.strip(),
        channel_account_id=inbound.account_id,
        external_id=message.message_id or inbound.external_id,
        received_at=message.sent_at,
        continue_open_ticket=True,
        attachments=tuple(files),
        group_id=inbound.account.group_id,
        metadata=metadata,
    )


def _echo(inbound: InboundMessage, payload: dict[str, Any]) -> IncomingMessage:
    raise Ignored("echo of a message the page sent")


def _reaction(inbound: InboundMessage, payload: dict[str, Any]) -> IncomingMessage:
    reaction = (payload.get("item") or {}).get("reaction") or {}
    raise Ignored(
        f"reaction {reaction.get('emoji') or reaction.get('reaction')} to {reaction.get('mid')}"
    )


HANDLERS: dict[str, Callable[[InboundMessage, dict[str, Any]], IncomingMessage]] = {
    "message": _incoming,
    "postback": lambda inbound, payload: _incoming(inbound, payload, postback=True),
    "echo": _echo,
    "reaction": _reaction,
}


@register_normaliser(ChannelKind.MESSENGER)
def normalise_messenger(inbound: InboundMessage) -> IncomingMessage:
    event, payload = _event(inbound)
    handler = HANDLERS.get(event)
    if handler is None:
        raise UnknownEvent(f"Messenger event {event!r} is not handled")
    return handler(inbound, payload)


@register_receipts(ChannelKind.MESSENGER)
def messenger_receipts(inbound: InboundMessage) -> Iterable[Receipt]:
    """`delivery` names message ids (or only a watermark); `read` has only a watermark: every
    message we sent that person before it has been read."""
    event, payload = _event(inbound)
    if event not in ("delivery", "read"):
        raise UnknownEvent(f"Messenger event {event!r} is not a receipt")
    item = payload.get("item") or {}
    data = item.get(event) or {}
    status = "delivered" if event == "delivery" else "read"
    mids = [str(m) for m in data.get("mids") or []]
    if mids:
        return [Receipt(provider_id=m, status=status) for m in mids]
    try:
        watermark = datetime.fromtimestamp(int(data["watermark"]) / 1000, tz=UTC)
    except (KeyError, TypeError, ValueError) as exc:
        raise Rejected(f"Messenger {event} without a watermark") from exc
    person = identity_value(
        payload.get("platform", "messenger"), str((item.get("sender") or {}).get("id", ""))
    )
    provider_ids = (
        OutboundDelivery.objects.filter(
            account_id=inbound.account_id,
            channel=ChannelKind.MESSENGER,
            recipient=person,
            sent_at__lte=watermark,
            status__in=[OutboundDelivery.Status.SENT, OutboundDelivery.Status.DELIVERED],
        )
        .exclude(provider_id="")
        .values_list("provider_id", flat=True)
    )
    return [Receipt(provider_id=p, status=status) for p in provider_ids]


@register_deliverer(ChannelKind.MESSENGER)
def send_messenger(delivery: OutboundDelivery) -> str:
    config: MessengerConfig = delivery_config(delivery, "Messenger")
    last = (
        Message.objects.filter(
            ticket__contact_id=delivery.message.ticket.contact_id,
            channel=Channel.MESSENGER,
            kind=Message.Kind.CUSTOMER,
        )
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    age = timezone.now() - last if last is not None else None
    if age is None or age >= HUMAN_AGENT_WINDOW:
        raise DeliveryError(
            "Messenger accepts a person's reply only within 7 days of the customer's last "
            "message; answer on another channel.",
            permanent=True,
        )
    tag = "" if age < STANDARD_WINDOW else "HUMAN_AGENT"
    client = MessengerClient(config)
    recipient = recipient_id(delivery.recipient)
    files = list(delivery.message.attachments.order_by("id"))
    try:
        if files:
            return _send_with_files(delivery, client, recipient=recipient, tag=tag, files=files)
        plan = _text_parts(client, recipient=recipient, tag=tag, text=delivery.message.text)
        return parts.send_parts(delivery, plan, provider="Messenger")
    except ProviderError as exc:
        raise exc.as_delivery_error("Messenger") from exc
    except ConfigError as exc:
        raise DeliveryError(f"Messenger: {exc}", permanent=True) from exc


MAX_FILE_BYTES = 25 * 1024 * 1024  # the Send API's limit for an uploaded file


def attachment_kind(content_type: str) -> str:
    major = content_type.split("/", 1)[0].lower()
    return major if major in ("image", "video", "audio") else "file"


def _text_parts(
    client: MessengerClient, *, recipient: str, tag: str, text: str
) -> list[parts.Part]:
    """The text as one message, or as several in order when it is longer than a message
    may be (never cut short)."""
    return parts.text_parts(
        text, MAX_TEXT, lambda piece: client.send_text(recipient=recipient, text=piece, tag=tag)
    )


def _send_with_files(
    delivery: OutboundDelivery,
    client: MessengerClient,
    *,
    recipient: str,
    tag: str,
    files: list[Attachment],
) -> str:
    """The text as its own message(s), then one message per file (an attachment carries no
    text), each recorded as it goes so a retry sends only what is missing."""
    too_big = [
        f"{a.filename} ({a.size // (1024 * 1024) + 1} MB)" for a in files if a.size > MAX_FILE_BYTES
    ]
    if too_big:
        raise DeliveryError(
            "Messenger takes files of at most 25 MB; nothing was sent. Too large: "
            + ", ".join(too_big),
            permanent=True,
        )
    text = delivery.message.text
    plan: list[parts.Part] = []
    if text:
        plan.extend(_text_parts(client, recipient=recipient, tag=tag, text=text))
    for attachment in files:

        def send(attachment: Attachment = attachment) -> str:
            with attachment.file.open("rb") as handle:
                content = handle.read()
            return client.send_file(
                recipient=recipient,
                kind=attachment_kind(attachment.content_type),
                name=attachment.filename,
                content_type=attachment.content_type,
                content=content,
                tag=tag,
            )

        plan.append(parts.Part(f"file:{attachment.pk}", attachment.filename, send))
    return parts.send_parts(delivery, plan, provider="Messenger")

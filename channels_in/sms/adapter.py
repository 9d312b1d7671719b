"""SMS on the one pipeline: a stored post to an IncomingMessage or a receipt, and an agent's
reply through the Messages API (with a status callback, so receipts find it again)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.dispatch import receiver
from django.urls import reverse

from tickets.events import reply_channel_note
from tickets.models import Channel, Identity, Ticket
from tickets.types import IncomingAttachment, IncomingMessage

from .. import parts
from ..config import ConfigError, SmsConfig, load_config
from ..errors import DeliveryError, UnknownEvent
from ..models import ChannelKind, InboundMessage, OutboundDelivery
from ..services import register_deliverer, register_normaliser
from ..webhooks import ProviderError, Receipt, delivery_config, location_text, register_receipts
from .client import MAX_BODY, SmsClient
from .parser import event_of, form, parse_message, parse_status


def _message(inbound: InboundMessage, params: dict[str, list[str]]) -> IncomingMessage:
    sms = parse_message(params)
    text = sms.body
    metadata: dict[str, Any] = {"sms": {"sid": sms.sid, "to": sms.to}}
    files: list[IncomingAttachment] = []
    errors: list[str] = []
    if sms.media:
        metadata["media"] = [{"url": m.url, "content_type": m.content_type} for m in sms.media]
        for index, item in enumerate(sms.media):
            try:
                config: SmsConfig = load_config(inbound.account)
                if not config.download_media:
                    break
                content, content_type = SmsClient(config).download(
                    item.url, max_bytes=settings.HELPDESK_MAX_ATTACHMENT_BYTES
                )
            except (ProviderError, ConfigError) as exc:
                errors.append(f"media {index + 1} not downloaded: {exc}")
                continue
            files.append(
                IncomingAttachment(
                    filename=f"mms-{sms.sid}-{index + 1}",
                    content_type=item.content_type or content_type,
                    payload=content,
                )
            )
    if errors:
        metadata["media_errors"] = errors
        text = (text + "\n\n" if text else "") + "[" + "; ".join(errors) + "]"
    if sms.latitude is not None and sms.longitude is not None:
        metadata["location"] = {
            "latitude": sms.latitude,
            "longitude": sms.longitude,
            "title": sms.place,
        }
        text = (text + "\n\n" if text else "") + location_text(
            sms.latitude, sms.longitude, sms.place
        )
    return IncomingMessage(
        channel=Channel.SMS,
        identity_kind=Identity.Kind.PHONE,
        identity_value=sms.sender,
        subject="" if text.strip() else "Picture message",
        text=text.strip(),
        channel_account_id=inbound.account_id,
        external_id=sms.sid,
        received_at=inbound.received_at,
        continue_open_ticket=True,
        attachments=tuple(files),
        group_id=inbound.account.group_id,
        metadata=metadata,
    )


HANDLERS: dict[str, Callable[[InboundMessage, dict[str, list[str]]], IncomingMessage]] = {
    "message": _message,
}


@register_normaliser(ChannelKind.SMS)
def normalise_sms(inbound: InboundMessage) -> IncomingMessage:
    event = event_of(inbound.content_type)
    handler = HANDLERS.get(event)
    if handler is None:
        raise UnknownEvent(f"SMS webhook event {event!r} is not handled")
    return handler(inbound, form(bytes(inbound.raw)))


@register_receipts(ChannelKind.SMS)
def sms_receipts(inbound: InboundMessage) -> Iterable[Receipt]:
    event = event_of(inbound.content_type)
    if event != "status":
        raise UnknownEvent(f"SMS webhook event {event!r} is not a receipt")
    return [parts.reply_receipt(parse_status(form(bytes(inbound.raw))), channel=ChannelKind.SMS)]


def status_callback_url(account_name: str, config: SmsConfig) -> str:
    base = (config.webhook_base_url or settings.HELPDESK_BASE_URL).rstrip("/")
    return base + reverse("channels_in:sms-status", args=[account_name])


# MMS would need a public URL for each file (Twilio fetches MediaUrl itself); this desk has
# no signed, expiring public link to a ticket's files to give it (chat's file links serve
# chat conversations only), so a reply with files is refused whole rather than sent without
# them, and the composer says so before the agent sends.
NO_FILES_NOTE = "text only: a reply with files is not sent"


@receiver(reply_channel_note)
def note_sms_text_only(sender: Any, *, ticket: Ticket, channel: str, **kwargs: Any) -> str:
    return NO_FILES_NOTE if channel == Channel.SMS else ""


@register_deliverer(ChannelKind.SMS)
def send_sms(delivery: OutboundDelivery) -> str:
    config: SmsConfig = delivery_config(delivery, "SMS")
    assert delivery.account is not None  # delivery_config refused a delivery without one
    names = list(delivery.message.attachments.order_by("id").values_list("filename", flat=True))
    if names:
        raise DeliveryError(
            "SMS cannot carry files (picture messages need a public link to each file, which "
            f"this desk does not publish); nothing was sent. Files: {', '.join(names)}. Send "
            "the reply again without them, or by a channel that takes files.",
            permanent=True,
        )
    client = SmsClient(config)
    callback = status_callback_url(delivery.account.name, config)
    plan = parts.text_parts(
        delivery.message.text,
        MAX_BODY,
        lambda piece: client.send(to=delivery.recipient, body=piece, status_callback=callback),
    )
    try:
        # a long reply goes as several messages, each recorded, so a retry sends only the rest
        return parts.send_parts(delivery, plan, provider="SMS")
    except ProviderError as exc:
        raise exc.as_delivery_error("SMS") from exc
    except ConfigError as exc:
        raise DeliveryError(f"SMS: {exc}", permanent=True) from exc

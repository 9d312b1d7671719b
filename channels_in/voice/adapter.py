"""Phone on the one pipeline: a voicemail (with its transcription when the provider sends one)
or a missed call becomes a message on the caller's ticket; the other steps of a call are kept
as the call's trail, each with its reason."""

from __future__ import annotations

from collections.abc import Callable
from email.message import Message as MimeHeader
from typing import Any

from django.conf import settings

from tickets.models import Channel, Group, Identity
from tickets.types import IncomingAttachment, IncomingMessage

from ..config import ConfigError, IvrOption, PhoneConfig, load_config
from ..errors import Ignored, UnknownEvent
from ..models import ChannelKind, InboundMessage
from ..services import register_normaliser
from ..sms.parser import form, one
from ..webhooks import ProviderError
from .client import VoiceClient
from .parser import ENDED, parse_call, parse_recording, parse_transcription

Params = dict[str, list[str]]


def _stored_params(inbound: InboundMessage) -> tuple[str, str]:
    header = MimeHeader()
    header["content-type"] = inbound.content_type
    return str(header.get_param("event") or ""), str(header.get_param("option") or "")


def _option(config: PhoneConfig, digit: str) -> tuple[IvrOption | None, int | None]:
    option = config.option(digit) if digit else None
    group_id = None
    if option is not None and option.group:
        group_id = Group.objects.filter(name=option.group).values_list("id", flat=True).first()
    return option, group_id


def _call_meta(call: Any, option: IvrOption | None) -> dict[str, Any]:
    return {
        "sid": call.sid,
        "from": call.caller,
        "to": call.called,
        "direction": "inbound",
        "option": option.digit if option else "",
        "queue": option.label if option else "",
    }


def _recording(inbound: InboundMessage, params: Params, digit: str) -> IncomingMessage:
    rec = parse_recording(params)
    config: PhoneConfig = load_config(inbound.account)
    option, group_id = _option(config, digit)
    for_whom = f" for {option.label}" if option else ""
    text = (
        f"Voicemail{for_whom} from {rec.call.caller}, {rec.duration} s.\nRecording: {rec.url}.mp3"
    )
    meta = {
        **_call_meta(rec.call, option),
        "recording_sid": rec.sid,
        "recording_url": rec.url,
        "recording_seconds": rec.duration,
        "kind": "voicemail",
    }
    attachments: tuple[IncomingAttachment, ...] = ()
    if config.download_recordings:
        try:
            audio, content_type = VoiceClient(config).recording(
                rec.url, max_bytes=settings.HELPDESK_MAX_ATTACHMENT_BYTES
            )
            attachments = (
                IncomingAttachment(
                    filename=f"voicemail-{rec.sid}.mp3",
                    content_type=content_type or "audio/mpeg",
                    payload=audio,
                ),
            )
        except (ProviderError, ConfigError) as exc:
            meta["recording_error"] = str(exc)
    return IncomingMessage(
        channel=Channel.PHONE,
        identity_kind=Identity.Kind.PHONE,
        identity_value=rec.call.caller,
        subject=f"Voicemail from {rec.call.caller}",
        text=text,
        channel_account_id=inbound.account_id,
        external_id=f"voicemail:{rec.sid}",
        received_at=inbound.received_at,
        continue_open_ticket=True,
        attachments=attachments,
        group_id=group_id or inbound.account.group_id,
        metadata={"call": meta},
    )


def _transcription(inbound: InboundMessage, params: Params, digit: str) -> IncomingMessage:
    item = parse_transcription(params)
    if item.status != "completed" or not item.text.strip():
        raise Ignored(f"transcription of {item.recording_sid} {item.status or 'empty'}")
    config: PhoneConfig = load_config(inbound.account)
    option, group_id = _option(config, digit)
    return IncomingMessage(
        channel=Channel.PHONE,
        identity_kind=Identity.Kind.PHONE,
        identity_value=item.call.caller,
        subject=f"Voicemail from {item.call.caller}",
        text=f"Voicemail transcription: {item.text.strip()}",
        channel_account_id=inbound.account_id,
        external_id=f"transcription:{item.recording_sid}",
        received_at=inbound.received_at,
        thread_refs=(f"voicemail:{item.recording_sid}",),
        continue_open_ticket=True,
        group_id=group_id or inbound.account.group_id,
        metadata={
            "call": {
                **_call_meta(item.call, option),
                "kind": "transcription",
                "recording_sid": item.recording_sid,
            }
        },
    )


def _status(inbound: InboundMessage, params: Params, digit: str) -> IncomingMessage:
    call = parse_call(params)
    if call.status not in ENDED:
        raise Ignored(f"call {call.sid} is {call.status}")
    trail = InboundMessage.objects.filter(
        account_id=inbound.account_id, external_id__startswith=f"call:{call.sid}:"
    )
    if trail.filter(external_id=f"call:{call.sid}:recording").exists():
        raise Ignored(f"call {call.sid} ended with a voicemail")
    for dial in trail.filter(external_id__startswith=f"call:{call.sid}:dial"):
        if one(form(bytes(dial.raw)), "DialCallStatus") == "completed":
            raise Ignored(f"call {call.sid} was answered; the agent can log it on the ticket")
    chosen = ""
    menu = trail.filter(external_id__startswith=f"call:{call.sid}:menu").order_by("-id").first()
    if menu is not None:
        chosen = one(form(bytes(menu.raw)), "Digits")[:1]
    config: PhoneConfig = load_config(inbound.account)
    option, group_id = _option(config, chosen)
    how = {
        "no-answer": "not answered",
        "busy": "line busy",
        "failed": "call failed",
        "canceled": "caller hung up before it rang",
    }.get(call.status, "caller hung up")
    where = f" while choosing {option.label}" if option else ""
    return IncomingMessage(
        channel=Channel.PHONE,
        identity_kind=Identity.Kind.PHONE,
        identity_value=call.caller,
        subject=f"Missed call from {call.caller}",
        text=f"Missed call from {call.caller} ({how}{where}, {call.duration} s). "
        "No voicemail was left.",
        channel_account_id=inbound.account_id,
        external_id=f"missed:{call.sid}",
        received_at=inbound.received_at,
        continue_open_ticket=True,
        group_id=group_id or inbound.account.group_id,
        metadata={
            "call": {
                **_call_meta(call, option),
                "kind": "missed",
                "status": call.status,
                "duration_seconds": call.duration,
            }
        },
    )


def _trail(
    reason: Callable[[Params, str], str],
) -> Callable[[InboundMessage, Params, str], IncomingMessage]:
    def handle(inbound: InboundMessage, params: Params, digit: str) -> IncomingMessage:
        raise Ignored(reason(params, digit))

    return handle


HANDLERS: dict[str, Callable[[InboundMessage, Params, str], IncomingMessage]] = {
    "incoming": _trail(lambda p, d: f"call from {one(p, 'From')}: greeting and menu played"),
    "menu": _trail(lambda p, d: f"caller pressed {one(p, 'Digits') or 'nothing'}"),
    "dial": _trail(lambda p, d: f"forwarded call: {one(p, 'DialCallStatus')}"),
    "voicemail": _trail(lambda p, d: "voicemail prompt played"),
    "recording": _recording,
    "transcription": _transcription,
    "status": _status,
}


@register_normaliser(ChannelKind.PHONE)
def normalise_voice(inbound: InboundMessage) -> IncomingMessage:
    event, digit = _stored_params(inbound)
    handler = HANDLERS.get(event)
    if handler is None:
        raise UnknownEvent(f"voice webhook event {event!r} is not handled")
    return handler(inbound, form(bytes(inbound.raw)), digit)

"""WhatsApp Cloud API webhook JSON to events and typed messages. Pure: no database, no network.

A webhook body (`object: whatsapp_business_account`) carries `entry[].changes[]`; a change of
field `messages` holds `value.messages[]` (what customers sent) and `value.statuses[]` (what
became of ours). Each becomes one `Event`, stored and handled on its own."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from ..errors import Rejected, UnknownEvent
from ..webhooks import Event, Receipt

MEDIA_TYPES = ("image", "document", "audio", "video", "sticker", "voice")
STATUS_MAP = {"sent": "sent", "delivered": "delivered", "read": "read", "failed": "failed"}


def split_body(body: Any) -> list[Event]:
    if not isinstance(body, dict) or body.get("object") != "whatsapp_business_account":
        raise Rejected("not a WhatsApp Business Account webhook")
    events: list[Event] = []
    for entry in body.get("entry") or []:
        for change in entry.get("changes") or []:
            field = str(change.get("field") or "")
            value = change.get("value") or {}
            if field != "messages":
                digest = hashlib.sha256(json.dumps(change, sort_keys=True).encode()).hexdigest()
                events.append(
                    Event(f"change:{field}:{digest[:32]}", f"change:{field}", {"value": value})
                )
                continue
            names = {
                c.get("wa_id"): (c.get("profile") or {}).get("name", "")
                for c in value.get("contacts") or []
            }
            number_id = (value.get("metadata") or {}).get("phone_number_id", "")
            for message in value.get("messages") or []:
                events.append(
                    Event(
                        str(message.get("id")),
                        "message",
                        {
                            "message": message,
                            "name": names.get(message.get("from"), ""),
                            "phone_number_id": number_id,
                        },
                    )
                )
            for status in value.get("statuses") or []:
                events.append(
                    Event(
                        f"status:{status.get('id')}:{status.get('status')}",
                        "status",
                        {"status": status},
                        is_receipt=True,
                    )
                )
    return events


@dataclass(frozen=True, slots=True)
class WhatsAppMessage:
    message_id: str
    wa_id: str
    name: str
    kind: str
    sent_at: datetime
    text: str = ""
    media_id: str = ""
    media_type: str = ""
    file_name: str = ""
    latitude: float | None = None
    longitude: float | None = None
    place: str = ""
    reply_to: str = ""


def parse_message(payload: dict[str, Any]) -> WhatsAppMessage:
    message = payload.get("message") or {}
    try:
        base = WhatsAppMessage(
            message_id=str(message["id"]),
            wa_id=str(message["from"]),
            name=str(payload.get("name") or ""),
            kind=str(message["type"]),
            sent_at=datetime.fromtimestamp(int(message.get("timestamp", 0)), tz=UTC),
            reply_to=str((message.get("context") or {}).get("id") or ""),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise Rejected(f"WhatsApp message without {exc}") from exc
    kind = base.kind
    body = message.get(kind) or {}
    if kind == "text":
        return replace(base, text=str(body.get("body") or ""))
    if kind in MEDIA_TYPES:
        return replace(
            base,
            text=str(body.get("caption") or ""),
            media_id=str(body.get("id") or ""),
            media_type=str(body.get("mime_type") or ""),
            file_name=str(body.get("filename") or ""),
        )
    if kind == "location":
        return replace(
            base,
            latitude=float(body["latitude"]),
            longitude=float(body["longitude"]),
            place=" — ".join(str(body[k]) for k in ("name", "address") if body.get(k)),
        )
    if kind == "button":
        return replace(base, text=str(body.get("text") or ""))
    if kind == "interactive":
        reply = body.get(body.get("type", "")) or {}
        return replace(base, text=str(reply.get("title") or ""))
    if kind == "reaction":
        return replace(
            base, text=str(body.get("emoji") or ""), reply_to=str(body.get("message_id") or "")
        )
    raise UnknownEvent(f"WhatsApp message of type {kind!r} is not handled")


def parse_status(payload: dict[str, Any]) -> Receipt:
    status = payload.get("status") or {}
    state = STATUS_MAP.get(str(status.get("status")))
    if state is None:
        raise UnknownEvent(f"WhatsApp status {status.get('status')!r} is not handled")
    errors = status.get("errors") or []
    detail = "; ".join(f"{e.get('code')}: {e.get('title') or e.get('message')}" for e in errors)
    return Receipt(provider_id=str(status.get("id")), status=state, detail=detail)

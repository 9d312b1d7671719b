"""A stored chat frame (JSON) to a typed payload. Pure: no database."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from tickets.types import IncomingAttachment

from ..errors import Rejected, UnknownEvent


@dataclass(frozen=True, slots=True)
class ChatPayload:
    conversation_id: int
    visitor_id: str
    client_id: str
    text: str
    offline: bool
    page_url: str = ""
    attachment: IncomingAttachment | None = None


def encode_message(
    *,
    conversation_id: int,
    visitor_id: str,
    client_id: str,
    text: str,
    offline: bool,
    page_url: str = "",
    attachment: IncomingAttachment | None = None,
) -> bytes:
    """The raw bytes stored for one visitor message (what `parse_chat` reads back)."""
    data: dict[str, Any] = {
        "event": "message",
        "conversation": conversation_id,
        "visitor": visitor_id,
        "client_id": client_id,
        "text": text,
        "mode": "offline" if offline else "live",
        "page": page_url,
    }
    if attachment is not None:
        data["attachment"] = {
            "filename": attachment.filename,
            "content_type": attachment.content_type,
            "data_b64": base64.b64encode(attachment.payload).decode(),
        }
    return json.dumps(data).encode()


def parse_chat(raw: bytes) -> ChatPayload:
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Rejected(f"chat frame is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise Rejected("chat frame is not an object")
    event = data.get("event")
    handler = _EVENTS.get(event) if isinstance(event, str) else None
    if handler is None:
        raise UnknownEvent(f"unknown chat event {event!r}")
    return handler(data)


def _message(data: dict[str, Any]) -> ChatPayload:
    try:
        conversation_id = int(data["conversation"])
        visitor_id = str(data["visitor"])
        client_id = str(data["client_id"])
        text = str(data.get("text") or "")
    except (KeyError, TypeError, ValueError) as exc:
        raise Rejected(f"chat message without {exc}") from exc
    attachment = None
    if isinstance(data.get("attachment"), dict):
        item = data["attachment"]
        try:
            payload = base64.b64decode(item["data_b64"], validate=True)
        except (KeyError, binascii.Error) as exc:
            raise Rejected("chat attachment is not base64") from exc
        attachment = IncomingAttachment(
            filename=str(item.get("filename") or "file")[:255],
            content_type=str(item.get("content_type") or "application/octet-stream")[:200],
            payload=payload,
        )
    if not text.strip() and attachment is None:
        raise Rejected("empty chat message")
    return ChatPayload(
        conversation_id=conversation_id,
        visitor_id=visitor_id,
        client_id=client_id,
        text=text,
        offline=data.get("mode") == "offline",
        page_url=str(data.get("page") or "")[:500],
        attachment=attachment,
    )


_EVENTS = {"message": _message}

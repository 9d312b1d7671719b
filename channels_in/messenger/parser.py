"""Messenger/Instagram webhook JSON to events and typed messages. Pure: no database, no network.

A body (`object: page` or `instagram`) carries `entry[].messaging[]`: each item is one event,
named by the key it carries (`message`, `delivery`, `read`, `postback`, ...)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..errors import Rejected, UnknownEvent
from ..webhooks import Event

OBJECTS = {"page": "messenger", "instagram": "instagram"}
KNOWN = ("message", "delivery", "read", "postback", "reaction", "referral", "optin")
RECEIPTS = ("delivery", "read")


def identity_value(platform: str, user_id: str) -> str:
    """Page-scoped ids of Instagram and Messenger live in one identity kind: mark which."""
    return f"ig:{user_id}" if platform == "instagram" else user_id


def recipient_id(value: str) -> str:
    return value.removeprefix("ig:")


def _digest(item: Any) -> str:
    return hashlib.sha256(json.dumps(item, sort_keys=True).encode()).hexdigest()[:32]


def split_body(body: Any) -> list[Event]:
    if not isinstance(body, dict) or body.get("object") not in OBJECTS:
        raise Rejected("not a Messenger or Instagram webhook")
    platform = OBJECTS[body["object"]]
    events: list[Event] = []
    for entry in body.get("entry") or []:
        for item in entry.get("messaging") or []:
            kind = next((k for k in KNOWN if k in item), "")
            sender = str((item.get("sender") or {}).get("id", ""))
            if kind == "message" and (item["message"] or {}).get("is_echo"):
                kind = "echo"
            if kind in ("message", "echo"):
                external_id = str(item["message"].get("mid") or _digest(item))
            else:
                external_id = (
                    f"{kind or 'unknown'}:{sender}:{item.get('timestamp')}:{_digest(item)}"
                )
            events.append(
                Event(
                    external_id,
                    kind or "unknown:" + ",".join(sorted(item)),
                    {"platform": platform, "item": item},
                    is_receipt=kind in RECEIPTS,
                )
            )
        for change in entry.get("changes") or []:
            field = str(change.get("field") or "")
            events.append(
                Event(
                    f"change:{field}:{_digest(change)}",
                    f"change:{field}",
                    {"platform": platform, "item": change},
                )
            )
    return events


@dataclass(frozen=True, slots=True)
class Attachment:
    kind: str
    url: str = ""
    latitude: float | None = None
    longitude: float | None = None
    title: str = ""


@dataclass(frozen=True, slots=True)
class MessengerMessage:
    platform: str
    message_id: str
    sender_id: str
    sent_at: datetime
    text: str
    attachments: tuple[Attachment, ...] = ()
    reply_to: str = ""


def parse_message(payload: dict[str, Any], *, postback: bool = False) -> MessengerMessage:
    item = payload.get("item") or {}
    try:
        sender = str(item["sender"]["id"])
        sent_at = datetime.fromtimestamp(int(item.get("timestamp", 0)) / 1000, tz=UTC)
    except (KeyError, TypeError, ValueError) as exc:
        raise Rejected(f"Messenger event without {exc}") from exc
    if postback:
        data = item.get("postback") or {}
        return MessengerMessage(
            platform=payload.get("platform", "messenger"),
            message_id=str(data.get("mid") or ""),
            sender_id=sender,
            sent_at=sent_at,
            text=f"[{data.get('title') or data.get('payload') or 'button'}]",
        )
    message = item.get("message") or {}
    found: list[Attachment] = []
    for att in message.get("attachments") or []:
        kind = str(att.get("type") or "")
        data = att.get("payload") or {}
        if kind == "location":
            coords = data.get("coordinates") or {}
            found.append(
                Attachment(
                    "location",
                    latitude=float(coords["lat"]),
                    longitude=float(coords["long"]),
                    title=str(att.get("title") or ""),
                )
            )
        elif kind in ("image", "video", "audio", "file"):
            found.append(Attachment(kind, url=str(data.get("url") or "")))
        elif kind in ("fallback", "template", "story_mention", "share", "ig_reel", "reel"):
            found.append(
                Attachment(
                    kind,
                    url=str(data.get("url") or att.get("url") or ""),
                    title=str(att.get("title") or data.get("title") or ""),
                )
            )
        else:
            raise UnknownEvent(f"Messenger attachment of type {kind!r} is not handled")
    return MessengerMessage(
        platform=payload.get("platform", "messenger"),
        message_id=str(message.get("mid") or ""),
        sender_id=sender,
        sent_at=sent_at,
        text=str(message.get("text") or ""),
        attachments=tuple(found),
        reply_to=str((message.get("reply_to") or {}).get("mid") or ""),
    )

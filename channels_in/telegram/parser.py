"""Telegram `Update` JSON to typed values. Pure: no database, no network."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..errors import Rejected, UnknownEvent

# Update fields that carry an event, in the Bot API's words; we act on the first two.
MESSAGE_EVENTS = ("message", "edited_message")


@dataclass(frozen=True, slots=True)
class Media:
    kind: str  # photo, document, voice, audio, video, sticker
    file_id: str
    file_name: str = ""
    mime_type: str = ""
    file_size: int = 0


@dataclass(frozen=True, slots=True)
class Location:
    latitude: float
    longitude: float
    title: str = ""


@dataclass(frozen=True, slots=True)
class TelegramMessage:
    update_id: int
    event: str
    message_id: int
    chat_id: str
    sender_name: str
    username: str
    text: str
    sent_at: datetime
    media: tuple[Media, ...] = ()
    location: Location | None = None
    reply_to: int | None = None

    @property
    def external_id(self) -> str:
        return f"{self.chat_id}:{self.message_id}"


def update_event(update: Any) -> tuple[int, str]:
    """(update_id, the name of the event it carries)."""
    if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
        raise Rejected("not a Telegram update (no update_id)")
    events = [key for key in update if key != "update_id"]
    if not events:
        raise Rejected("Telegram update without an event")
    return update["update_id"], events[0]


def parse_message(update: dict[str, Any], event: str) -> TelegramMessage:
    data = update.get(event)
    if not isinstance(data, dict):
        raise Rejected(f"Telegram {event} is not an object")
    try:
        chat = data["chat"]
        sender = data.get("from") or {}
        message_id = int(data["message_id"])
        sent_at = datetime.fromtimestamp(int(data.get("date", 0)), tz=UTC)
        chat_id = str(int(chat["id"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise Rejected(f"Telegram {event} without {exc}") from exc
    name = " ".join(p for p in (sender.get("first_name", ""), sender.get("last_name", "")) if p)
    location = None
    if isinstance(data.get("location"), dict):
        loc = data["location"]
        venue = data.get("venue") or {}
        location = Location(
            float(loc["latitude"]),
            float(loc["longitude"]),
            title=" — ".join(v for v in (venue.get("title"), venue.get("address")) if v),
        )
    reply = data.get("reply_to_message")
    return TelegramMessage(
        update_id=int(update["update_id"]),
        event=event,
        message_id=message_id,
        chat_id=chat_id,
        sender_name=name or chat.get("title", ""),
        username=str(sender.get("username") or ""),
        text=str(data.get("text") or data.get("caption") or ""),
        sent_at=sent_at,
        media=_media(data),
        location=location,
        reply_to=int(reply["message_id"])
        if isinstance(reply, dict) and "message_id" in reply
        else None,
    )


def _media(data: dict[str, Any]) -> tuple[Media, ...]:
    found: list[Media] = []
    photos = data.get("photo")
    if isinstance(photos, list) and photos:
        biggest = max(photos, key=lambda p: (p.get("file_size") or 0, p.get("width") or 0))
        found.append(
            Media(
                "photo",
                biggest["file_id"],
                mime_type="image/jpeg",
                file_size=int(biggest.get("file_size") or 0),
            )
        )
    for kind in ("document", "voice", "audio", "video", "video_note", "sticker", "animation"):
        item = data.get(kind)
        if isinstance(item, dict) and item.get("file_id"):
            found.append(
                Media(
                    kind,
                    item["file_id"],
                    file_name=str(item.get("file_name") or ""),
                    mime_type=str(item.get("mime_type") or ""),
                    file_size=int(item.get("file_size") or 0),
                )
            )
    return tuple(found)


def check_event(event: str, known: tuple[str, ...]) -> None:
    if event not in known:
        raise UnknownEvent(f"Telegram update of kind {event!r} is not handled")

"""Twilio's form-encoded webhook posts to typed values. Pure: no database, no network."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message as MimeHeader
from urllib.parse import parse_qs

from ..errors import Rejected, UnknownEvent
from ..webhooks import Receipt

FORM = "application/x-www-form-urlencoded"
# Twilio's message statuses, and what each means for our delivery
STATUSES = {
    "accepted": "sent",
    "scheduled": "sent",
    "queued": "sent",
    "sending": "sent",
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "undelivered": "failed",
    "failed": "failed",
    "canceled": "failed",
}


def content_type(event: str) -> str:
    """How a stored post remembers which webhook it came to."""
    return f"{FORM}; event={event}"


def event_of(stored_content_type: str) -> str:
    header = MimeHeader()
    header["content-type"] = stored_content_type
    return str(header.get_param("event") or "")


def form(raw: bytes) -> dict[str, list[str]]:
    try:
        return parse_qs(raw.decode(), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError as exc:
        raise Rejected(f"form post is not UTF-8: {exc}") from exc


def one(params: dict[str, list[str]], name: str, default: str = "") -> str:
    values = params.get(name)
    return values[0] if values else default


@dataclass(frozen=True, slots=True)
class MediaItem:
    url: str
    content_type: str


@dataclass(frozen=True, slots=True)
class SmsMessage:
    sid: str
    sender: str
    to: str
    body: str
    media: tuple[MediaItem, ...] = ()
    latitude: float | None = None
    longitude: float | None = None
    place: str = ""


def parse_message(params: dict[str, list[str]]) -> SmsMessage:
    sid = one(params, "MessageSid") or one(params, "SmsSid")
    sender = one(params, "From")
    if not sid or not sender:
        raise Rejected("SMS post without MessageSid or From")
    try:
        count = int(one(params, "NumMedia", "0") or 0)
    except ValueError as exc:
        raise Rejected("NumMedia is not a number") from exc
    media = tuple(
        MediaItem(one(params, f"MediaUrl{i}"), one(params, f"MediaContentType{i}"))
        for i in range(min(count, 10))
        if one(params, f"MediaUrl{i}")
    )
    latitude = longitude = None
    if one(params, "Latitude") and one(params, "Longitude"):
        try:
            latitude, longitude = float(one(params, "Latitude")), float(one(params, "Longitude"))
        except ValueError as exc:
            raise Rejected("Latitude/Longitude are not numbers") from exc
    return SmsMessage(
        sid=sid,
        sender=sender,
        to=one(params, "To"),
        body=one(params, "Body"),
        media=media,
        latitude=latitude,
        longitude=longitude,
        place=" — ".join(v for v in (one(params, "Label"), one(params, "Address")) if v),
    )


def parse_status(params: dict[str, list[str]]) -> Receipt:
    sid = one(params, "MessageSid") or one(params, "SmsSid")
    raw_status = one(params, "MessageStatus") or one(params, "SmsStatus")
    status = STATUSES.get(raw_status)
    if not sid or status is None:
        raise UnknownEvent(f"SMS status {raw_status!r} is not handled")
    code = one(params, "ErrorCode")
    detail = f"{raw_status} (error {code})" if code else raw_status
    return Receipt(provider_id=sid, status=status, detail=detail)

"""Twilio voice webhook posts to typed values. Pure: no database, no network."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import Rejected
from ..sms.parser import one

FORM = "application/x-www-form-urlencoded"
ENDED = ("completed", "no-answer", "busy", "failed", "canceled")


def content_type(event: str, option: str = "") -> str:
    """Stored posts remember their webhook, and the menu key the caller had chosen."""
    return f"{FORM}; event={event}" + (f"; option={option}" if option else "")


@dataclass(frozen=True, slots=True)
class Call:
    sid: str
    caller: str
    called: str
    status: str
    duration: int


def parse_call(params: dict[str, list[str]]) -> Call:
    sid = one(params, "CallSid")
    if not sid:
        raise Rejected("voice post without CallSid")
    try:
        duration = int(one(params, "CallDuration", "0") or 0)
    except ValueError:
        duration = 0
    return Call(
        sid=sid,
        caller=one(params, "From"),
        called=one(params, "To"),
        status=one(params, "CallStatus"),
        duration=duration,
    )


@dataclass(frozen=True, slots=True)
class Recording:
    call: Call
    sid: str
    url: str
    duration: int


def parse_recording(params: dict[str, list[str]]) -> Recording:
    sid, url = one(params, "RecordingSid"), one(params, "RecordingUrl")
    if not sid or not url:
        raise Rejected("recording post without RecordingSid or RecordingUrl")
    try:
        duration = int(one(params, "RecordingDuration", "0") or 0)
    except ValueError:
        duration = 0
    return Recording(call=parse_call(params), sid=sid, url=url, duration=duration)


@dataclass(frozen=True, slots=True)
class Transcription:
    call: Call
    recording_sid: str
    status: str
    text: str


def parse_transcription(params: dict[str, list[str]]) -> Transcription:
    return Transcription(
        call=parse_call(params),
        recording_sid=one(params, "RecordingSid"),
        status=one(params, "TranscriptionStatus"),
        text=one(params, "TranscriptionText"),
    )

"""Limits, the result types and the small text helpers every other part of the parser uses."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final

DEFAULT_MAX_ATTACHMENT_BYTES: Final = 20 * 1024 * 1024

# Limits that keep hostile or runaway input (e.g. flanker's "enclosed-endless") bounded in
# time and memory; hitting one is reported in ``warnings``, never raised.
_MAX_PARTS: Final = 500
_MAX_DEPTH: Final = 20
_MAX_WARNINGS: Final = 50
_MAX_HEADER_LINES: Final = 5000
_MAX_HEADER_BYTES: Final = 2 * 1024 * 1024
_MAX_SUBJECT_CHARS: Final = 1000
_MAX_ADDRESS_HEADER_CHARS: Final = 64 * 1024
_MAX_EMBEDDED_TEXT_DEPTH: Final = 2
_MAX_RECOVERY_BYTES: Final = 16 * 1024 * 1024


class EmailParseError(ValueError):
    """The input is not an email we can do anything with.

    ``reason`` is a stable machine-readable code (``not_bytes``, ``empty``, ``no_headers``,
    ``unparseable``, ``too_deep``, ``bad_argument`` or ``internal_error``) so callers can store
    why a message was rejected without parsing the human text.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class ParsedAttachment:
    filename: str
    content_type: str
    payload: bytes
    content_id: str
    inline: bool
    oversized: bool
    # Decoded size before any drop, so the UI can say how big a refused file was.
    size: int = 0


@dataclass(frozen=True, slots=True)
class AuthResult:
    """One result of an ``Authentication-Results`` header (RFC 8601): who checked
    (``authserv_id``), which method (``dmarc``, ``dkim``, ``spf``...), the result, and its
    properties (``header.from``, ``header.d``, ``smtp.mailfrom``...), lower-cased."""

    authserv_id: str
    method: str
    result: str
    properties: tuple[tuple[str, str], ...]

    def prop(self, name: str) -> str:
        return next((value for key, value in self.properties if key == name), "")


@dataclass(frozen=True, slots=True)
class ParsedEmail:
    message_id: str
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    subject: str
    from_name: str
    from_address: str
    reply_to: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    date: datetime | None
    text: str
    html: str
    attachments: tuple[ParsedAttachment, ...]
    is_auto_reply: bool
    is_bulk: bool
    is_bounce: bool
    bounced_message_ids: tuple[str, ...]
    bounce_recipients: tuple[str, ...]
    ticket_token: str
    headers: dict[str, str]
    warnings: tuple[str, ...]
    quoted_text_start: int | None
    forwarded_from: tuple[str, str] | None
    reply_to_name: str = ""
    # What a delivery report says happened: "failed", "delayed", "delivered" ("" if no report).
    bounce_status: str = ""
    # Machine mail to store and ignore (no ticket, no answer), and why; "" for anything else.
    ignore_reason: str = ""
    # The sender's address belongs to a family that never reads answers ("no-reply", ...).
    machine_sender: str = ""
    # Why an upstream spam filter called this spam ("" when none did).
    spam_reason: str = ""
    auth_results: tuple[AuthResult, ...] = ()
    # Which classification rules fired, for the stored reason and for debugging.
    classified_by: tuple[str, ...] = ()


_CONTROL_RE: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_BIDI_RE: Final = re.compile(r"[\u202a-\u202e\u2066-\u2069\u200e\u200f]")
_UNFOLD_RE: Final = re.compile(r"\r?\n(?=[ \t])")
_NEWLINES_RE: Final = re.compile(r"\r\n?")


class _Notes:
    """Deduplicated, capped list of human-readable warnings."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, note: str) -> None:
        if len(self.items) < _MAX_WARNINGS and note not in self.items:
            self.items.append(note)


def _valid_str(value: str) -> str:
    """Drop lone surrogates and NULs: PostgreSQL text columns reject both."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def _one_line(value: str) -> str:
    value = _CONTROL_RE.sub(" ", value)
    value = _BIDI_RE.sub("", value)
    return " ".join(value.split())


def _normalise_newlines(value: str) -> str:
    return _NEWLINES_RE.sub("\n", value)


def _unflow(text: str, delsp: bool) -> str:
    """Undo RFC 3676 format=flowed soft line breaks."""
    out: list[str] = []
    current: str | None = None
    current_depth = 0
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]
        if current is not None and depth == current_depth:
            current += content
        else:
            if current is not None:
                out.append(_quote_prefix(current_depth) + current)
            current, current_depth = content, depth
        flowed = content.endswith(" ") and content != "-- "
        if flowed and delsp:
            current = current[:-1]
        if not flowed:
            out.append(_quote_prefix(current_depth) + current)
            current = None
    if current is not None:
        out.append(_quote_prefix(current_depth) + current)
    return "\n".join(out)


def _quote_prefix(depth: int) -> str:
    return ">" * depth + " " if depth else ""


def _tidy_text(text: str) -> str:
    text = _normalise_newlines(text).replace("\x00", "")
    lines = [line.rstrip() for line in text.split("\n")]
    return _valid_str("\n".join(lines).strip("\n"))

"""Forwarded messages (who really wrote) and ticket tokens (subject, our Message-IDs)."""

from __future__ import annotations

import re
from typing import Final

from .addresses import _mailboxes

_FORWARD_SUBJECT_RE: Final = re.compile(r"^\s*\[?\s*(?:fwd?|wg)\s*:", re.IGNORECASE)
_FORWARD_MARKER_RE: Final = re.compile(
    r"^(?:-{2,}\s*(?:forwarded message|weitergeleitete nachricht|original message|"
    r"message transféré|mensaje reenviado)\s*-{2,}|begin forwarded message:?)$",
    re.IGNORECASE,
)
_FORWARD_FROM_RE: Final = re.compile(r"^\*?(?:from|von|de)\*?\s*:\s*(.+)$", re.IGNORECASE)
_MAILTO_BRACKET_RE: Final = re.compile(r"\[mailto:([^\]\s]+)\]", re.IGNORECASE)


def _forward_in_text(text: str) -> tuple[str, str] | None:
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if not _FORWARD_MARKER_RE.match(line.strip()):
            continue
        for offset in range(index + 1, min(index + 12, len(lines))):
            match = _FORWARD_FROM_RE.match(lines[offset].strip())
            if not match:
                continue
            value = match.group(1)
            if "@" not in value and offset + 1 < len(lines):
                value = f"{value} {lines[offset + 1].strip()}"
            value = _MAILTO_BRACKET_RE.sub(r"<\1>", value.replace("*", ""))
            boxes = _mailboxes(value)
            if boxes:
                return boxes[0]
            break
    return None


_SUBJECT_TOKEN_RE: Final = re.compile(r"\[(?i:ref):([A-Za-z0-9_-]{16})\]")
_MSGID_TOKEN_RE: Final = re.compile(r"<hd\.([A-Za-z0-9_-]{16})\.[^@<>]*@[^<>]+>")


def token_from_message_id(message_id: str) -> str:
    """The ticket token in one of our outbound ids, ``<hd.TOKEN.anything@domain>``, or ""."""
    match = _MSGID_TOKEN_RE.fullmatch(message_id.strip())
    return match.group(1) if match else ""


def _ticket_token(subject: str, in_reply_to: tuple[str, ...], references: tuple[str, ...]) -> str:
    match = _SUBJECT_TOKEN_RE.search(subject)
    if match:
        return match.group(1)
    # Nearest ancestor first: the last References entry is the message being answered.
    for message_id in (*in_reply_to, *reversed(references)):
        token = token_from_message_id(message_id)
        if token:
            return token
    return ""

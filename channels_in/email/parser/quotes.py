"""Quoted history and signatures: where the new text of a reply ends."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

_ATTRIBUTION_START_RE: Final = re.compile(
    r"^(?:on|am|le|el|op|il giorno|em|den|dne|w dniu)\b", re.IGNORECASE
)
_ATTRIBUTION_END_RE: Final = re.compile(
    r"(?:wrote|schrieb|a écrit|escribió|schreef|ha scritto|escreveu|skrev|napsal|napisał)\s*:$",
    re.IGNORECASE,
)
_ORIGINAL_MESSAGE_RE: Final = re.compile(
    r"^-{2,}\s*(?:original message|ursprüngliche nachricht|message d'origine|"
    r"mensaje original|messaggio originale)\s*-{2,}$",
    re.IGNORECASE,
)
_OUTLOOK_FROM_RE: Final = re.compile(r"^\*?(?:from|von|de|da)\*?\s*:\s*\S", re.IGNORECASE)
_OUTLOOK_SENT_RE: Final = re.compile(
    r"^\*?(?:sent|date|gesendet|datum|envoyé|enviado|inviato)\*?\s*:", re.IGNORECASE
)
_UNDERSCORE_RULE_RE: Final = re.compile(r"^_{10,}$")


def _quote_start(text: str) -> int | None:
    if not text:
        return None
    lines = text.split("\n")
    offsets: list[int] = []
    position = 0
    for line in lines:
        offsets.append(position)
        position += len(line) + 1
    stripped = [line.strip() for line in lines]
    quoted = [s.startswith(">") for s in stripped]
    interleaved = _interleave_checker(stripped, quoted)

    start_line: int | None = None
    for index, line in enumerate(stripped):
        if _ORIGINAL_MESSAGE_RE.match(line):
            start_line = index
            break
        if _is_outlook_header(stripped, index):
            previous = index - 1
            while previous >= 0 and not stripped[previous]:
                previous -= 1
            underscored = previous >= 0 and _UNDERSCORE_RULE_RE.match(stripped[previous])
            start_line = previous if underscored else index
            break
        span = _attribution_span(stripped, index) if _ATTRIBUTION_START_RE.match(line) else 0
        if span and not interleaved(index + span):
            start_line = index
            break

    trailing = _trailing_quote_block(stripped, quoted)
    if trailing is not None and (start_line is None or trailing < start_line):
        start_line = trailing
    signature = _signature_start(lines, stripped, quoted, start_line)
    if signature is not None:
        start_line = signature
    if start_line is None:
        return None
    # Folding away the entire message would leave the agent nothing to read.
    if not any(stripped[:start_line]):
        return None
    return offsets[start_line]


_MOBILE_SIGNATURE_RE: Final = re.compile(
    r"^(?:sent from my \w[\w ]{0,40}|sent from (?:mail|outlook) for \w+|"
    r"get outlook for (?:ios|android)|von meinem \w[\w ]{0,40} gesendet|"
    r"envoyé de mon \w[\w ]{0,40})$",
    re.IGNORECASE,
)
_MAX_SIGNATURE_LINES: Final = 12


def _signature_start(
    lines: list[str], stripped: list[str], quoted: list[bool], history: int | None
) -> int | None:
    """The line where a signature starts, before the history (or the end): the RFC 3676
    ``-- `` delimiter (trailing space already trimmed) or a mail app's "Sent from my ...".
    A "signature" of more than a dozen lines is more likely a separator in the text itself."""
    end = len(lines) if history is None else history
    for index in range(end):
        is_dash = lines[index] in ("--", "-- ")
        if not is_dash and not _MOBILE_SIGNATURE_RE.match(stripped[index]):
            continue
        if quoted[index]:
            continue
        if sum(1 for line in stripped[index + 1 : end] if line) <= _MAX_SIGNATURE_LINES:
            return index
    return None


def _attribution_span(stripped: list[str], index: int) -> int:
    """How many lines the "On ... wrote:" attribution starting here takes (0: not one)."""
    line = stripped[index]
    if len(line) > 400:
        return 0
    if _ATTRIBUTION_END_RE.search(line):
        return 1
    # Gmail wraps long attributions ("On ..., Name <\naddr> wrote:") onto a second line.
    following = stripped[index + 1] if index + 1 < len(stripped) else ""
    if len(following) < 200 and _ATTRIBUTION_END_RE.search(f"{line} {following}"):
        return 2
    return 0


def _is_outlook_header(stripped: list[str], index: int) -> bool:
    if not _OUTLOOK_FROM_RE.match(stripped[index]):
        return False
    window = stripped[index + 1 : index + 4]
    return any(_OUTLOOK_SENT_RE.match(line) for line in window)


def _interleave_checker(stripped: list[str], quoted: list[bool]) -> Callable[[int], bool]:
    """Build ``f(start)``: is there own (unquoted) text between ``start`` and the last quoted
    line? That means the sender answered inline, so nothing after ``start`` is mere history.

    Prefix counts keep this O(1) per call; a message full of attribution lines must not make
    quote detection quadratic.
    """
    last_quoted = max((i for i, q in enumerate(quoted) if q), default=-1)
    own_before: list[int] = [0]
    for line, is_quoted in zip(stripped, quoted, strict=True):
        own_before.append(own_before[-1] + (1 if line and not is_quoted else 0))

    def interleaved(start: int) -> bool:
        if start >= last_quoted:
            return False
        return own_before[last_quoted] - own_before[start] > 0

    return interleaved


def _trailing_quote_block(stripped: list[str], quoted: list[bool]) -> int | None:
    index = len(stripped) - 1
    while index >= 0 and not stripped[index]:
        index -= 1
    block_start: int | None = None
    while index >= 0 and (quoted[index] or not stripped[index]):
        if quoted[index]:
            block_start = index
        index -= 1
    return block_start


def split_quoted(text: str) -> tuple[str, str]:
    """Split a plain-text body into (new text, quoted history).

    Recognises a trailing ``>`` block, "On ... wrote:" attributions (and common translations),
    ``-----Original Message-----`` and Outlook's ``From:``/``Sent:`` block, and a signature
    before them (``-- `` or "Sent from my ..."): both are folded away together. Inline replies
    (own text between quoted lines) are not split, and neither is a message that is nothing
    but quote. Returns ``(text, "")`` when no history is found.
    """
    start = _quote_start(text)
    if start is None:
        return text, ""
    return text[:start].rstrip(), text[start:]

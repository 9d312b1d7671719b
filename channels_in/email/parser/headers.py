"""Header access without the stdlib's raising structured headers: header fields, part
parameters, message ids, dates, and the repair of broken header blocks."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.message import Message
from email.utils import parsedate_to_datetime
from typing import Final

from .charsets import _fix_surrogates, _header_text, _unfold
from .common import (
    _CONTROL_RE,
    _MAX_ADDRESS_HEADER_CHARS,
    _MAX_HEADER_BYTES,
    _MAX_HEADER_LINES,
    _Notes,
    _valid_str,
)


class _Headers:
    """Raw header values by lower-cased name; avoids the stdlib's raising structured headers."""

    def __init__(self, message: Message) -> None:
        self._values: dict[str, list[str]] = {}
        try:
            items = list(message.raw_items())
        except Exception:  # a damaged header list reads as "no headers"
            items = []
        hint: str | None = None
        for name, value in items:
            if not isinstance(name, str):
                continue
            text = value if isinstance(value, str) else str(value)
            if hint is None and not text.isascii():
                hint = _body_charset(message) or ""
            self._values.setdefault(name.strip().lower(), []).append(_fix_surrogates(text, hint))

    def __bool__(self) -> bool:
        return bool(self._values)

    def all(self, name: str) -> list[str]:
        return self._values.get(name, [])

    def first(self, name: str) -> str | None:
        values = self._values.get(name)
        return values[0] if values else None

    def has(self, name: str) -> bool:
        return name in self._values

    def text(self, name: str) -> str:
        raw = self.first(name)
        return _header_text(raw) if raw is not None else ""


_PARAM_RE_CACHE: dict[str, re.Pattern[str]] = {}


def _raw_param(raw_header: str, name: str) -> str | None:
    pattern = _PARAM_RE_CACHE.get(name)
    if pattern is None:
        pattern = re.compile(
            rf"(?:^|;)\s*{re.escape(name)}\s*=\s*(?:\"([^\"]*)\"|([^;\s]+))", re.IGNORECASE
        )
        _PARAM_RE_CACHE[name] = pattern
    match = pattern.search(_unfold(raw_header))
    if not match:
        return None
    return match.group(1) if match.group(1) is not None else match.group(2)


def _body_charset(message: Message) -> str | None:
    """The first declared text charset, used to guess what raw 8-bit headers are in."""
    try:
        for index, part in enumerate(message.walk()):
            if index > 20:
                break
            if part.get_content_maintype() in ("text", "multipart"):
                charset = _charset(part)
                if charset:
                    return charset
    except Exception:  # only a hint; an unreadable structure just means no hint
        return None
    return None


def _raw_part_header(part: Message, name: str) -> str:
    try:
        for key, value in part.raw_items():
            if isinstance(key, str) and key.strip().lower() == name:
                return _fix_surrogates(value if isinstance(value, str) else str(value))
    except Exception:
        return ""
    return ""


def _charset(part: Message) -> str | None:
    try:
        value = part.get_content_charset()
    except Exception:
        value = None
    if isinstance(value, str) and value:
        return value
    raw = _raw_part_header(part, "content-type")
    return _raw_param(raw, "charset") if raw else None


_MSGID_RE: Final = re.compile(r"<([^<>]{1,990})>")
_COMMENT_RE: Final = re.compile(r"\([^()]*\)")
_MSGID_TOKEN_SPLIT_RE: Final = re.compile(r"[\s,;]+")


def _normalise_msgid(inner: str) -> str | None:
    inner = _COMMENT_RE.sub("", inner)
    # Obsolete syntax (RFC 5322 section 4.5.4) allows folding whitespace inside ids.
    inner = "".join(_CONTROL_RE.sub("", inner).split())
    if not inner or len(inner) > 900:
        return None
    return _valid_str(f"<{inner}>")


def _msgids(values: list[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for raw in values:
        text = _unfold(raw)
        if len(text) > _MAX_ADDRESS_HEADER_CHARS:
            # Keep the thread root and the nearest ancestors; the middle matters least.
            text = f"{text[:8192]} {text[-(_MAX_ADDRESS_HEADER_CHARS - 8192) :]}"
        found = _MSGID_RE.findall(text)
        if not found:
            # Some clients drop the angle brackets; only trust tokens that look like ids.
            found = [
                token.strip("<>")
                for token in _MSGID_TOKEN_SPLIT_RE.split(text)
                if "@" in token and len(token) < 900
            ]
        for inner in found:
            normalised = _normalise_msgid(inner)
            if normalised:
                seen.setdefault(normalised, None)
    return tuple(seen)


_DATE_FALLBACK_RE: Final = re.compile(
    r"(\d{1,2})\s+([A-Za-z]{3})[a-z]*\s+(\d{2,4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?"
    r"(?:\s*([+-]\d{4}|[A-Z]{1,5}))?"
)


_SPACED_COLON_RE: Final = re.compile(r"\s*:\s*")


def _parse_date(raw: str | None, notes: _Notes) -> datetime | None:
    if raw is None:
        return None
    text = _header_text(raw)
    if not text:
        return None
    parsed = _try_parse_date(text)
    if parsed is None:
        # Obsolete syntax allows comments and spaces inside the time ("09(c):  55 : 06").
        match = _DATE_FALLBACK_RE.search(_SPACED_COLON_RE.sub(":", _COMMENT_RE.sub(" ", text)))
        if match:
            day, month, year, hour, minute, second, zone = match.groups()
            parsed = _try_parse_date(
                f"{day} {month} {year} {hour}:{minute}:{second or '00'} {zone or '-0000'}"
            )
    if parsed is None:
        notes.add(f"unparseable Date header: {text[:80]!r}")
        return None
    if parsed.tzinfo is None:
        # RFC 5322 "-0000" means "UTC, source zone unknown"; the stdlib returns it naive.
        parsed = parsed.replace(tzinfo=UTC)
    try:
        result = parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        result = None
    if result is None or not 1900 <= result.year <= 2200:
        notes.add(f"implausible Date header: {text[:80]!r}")
        return None
    return result


def _try_parse_date(text: str) -> datetime | None:
    try:
        return parsedate_to_datetime(text)
    except Exception:  # ValueError/TypeError/IndexError/OverflowError on garbage
        return None


_HEADER_LINE_RE: Final = re.compile(rb"[!-9;-~]+:")
_OBS_HEADER_LINE_RE: Final = re.compile(rb"([!-9;-~]+)[ \t]+:")


def _repair_header_block(raw: bytes, notes: _Notes) -> bytes:
    """Fix the two header-block faults that make the stdlib drop every later header.

    ``Name  : value`` (obsolete syntax, RFC 5322 section 4.5) is rewritten to ``Name: value``;
    a single junk line sandwiched between real header lines is dropped. Otherwise the stdlib
    treats everything after the first odd line as body and loses From/Subject/etc.
    """
    lines: list[bytes] = []
    kinds: list[str] = []
    position = 0
    while position < len(raw) and len(lines) < _MAX_HEADER_LINES:
        end = raw.find(b"\n", position)
        end = len(raw) if end == -1 else end + 1
        line = raw[position:end]
        if not line.strip(b"\r\n"):
            break
        if position > _MAX_HEADER_BYTES:
            return raw
        lines.append(line)
        position = end
        if line[:1] in (b" ", b"\t"):
            kinds.append("cont")
        elif _HEADER_LINE_RE.match(line):
            kinds.append("header")
        elif _OBS_HEADER_LINE_RE.match(line):
            kinds.append("obs")
        elif len(lines) == 1 and line.startswith(b"From "):
            kinds.append("header")  # mbox envelope line; the stdlib knows it as "unixfrom"
        else:
            kinds.append("junk")
    if not kinds or kinds[0] not in ("header", "obs"):
        return raw
    if "obs" not in kinds and "junk" not in kinds:
        return raw
    # header_after[i]: a real header line follows line i (precomputed to stay linear).
    header_after = [False] * (len(kinds) + 1)
    for index in range(len(kinds) - 1, -1, -1):
        header_after[index] = header_after[index + 1] or kinds[index] in ("header", "obs")
    fixed: list[bytes] = []
    for index, (line, kind) in enumerate(zip(lines, kinds, strict=True)):
        if kind == "obs":
            fixed.append(_OBS_HEADER_LINE_RE.sub(rb"\1:", line, count=1))
            notes.add("obsolete header syntax (space before colon) normalised")
        elif kind == "junk":
            next_kind = kinds[index + 1] if index + 1 < len(kinds) else "junk"
            if header_after[index + 1] and next_kind != "junk":
                notes.add(f"dropped a malformed header line: {_line_preview(line)!r}")
                continue
            # Junk that is not followed by headers is where the body starts (no blank line).
            fixed.append(line)
            fixed.extend(lines[index + 1 :])
            break
        else:
            fixed.append(line)
    return b"".join(fixed) + raw[position:]


def _line_preview(line: bytes) -> str:
    return line.decode("latin-1").strip()[:60]

"""Turn raw RFC 5322 bytes into a typed, sanitised :class:`ParsedEmail`.

This module is deliberately pure: no Django, no ORM, no settings. It is fed whatever arrives
over IMAP/SMTP/webhooks, which in practice includes mail that no RFC would recognise, so the
contract is strict: :func:`parse_email` either returns a :class:`ParsedEmail` or raises
:class:`EmailParseError`. A broken part costs only that part (noted in ``warnings``), never the
whole message.

Header decoding is done here from the raw header values rather than through the stdlib's
structured headers, because the structured parser raises or silently drops data on the broken
RFC 2047 words, unknown charsets and stray 8-bit bytes that real senders produce.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy as email_policy
from email.message import Message
from email.parser import BytesParser
from email.utils import collapse_rfc2231_value, getaddresses, parsedate_to_datetime
from html import unescape
from typing import Final

import nh3

__all__ = [
    "DEFAULT_MAX_ATTACHMENT_BYTES",
    "EmailParseError",
    "ParsedAttachment",
    "ParsedEmail",
    "html_to_text",
    "parse_email",
    "safe_filename",
    "sanitize_html",
    "split_quoted",
    "token_from_message_id",
]

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
# html5ever (inside nh3) goes superlinear on some hostile markup (deep nesting, floods of
# character references); these bound the worst case to about a second per message.
_MAX_HTML_CHARS: Final = 1024 * 1024
_MAX_HTML_NESTING: Final = 3000
_MAX_HTML_TAGS: Final = 150_000
_MAX_HTML_ENTITIES: Final = 100_000
_MAX_EMBEDDED_TEXT_DEPTH: Final = 2
_MAX_RECOVERY_BYTES: Final = 16 * 1024 * 1024

_KEPT_HEADERS: Final = (
    "Return-Path",
    "Auto-Submitted",
    "Precedence",
    "List-Id",
    "List-Unsubscribe",
    "X-Mailer",
    "X-Auto-Response-Suppress",
    "X-Failed-Recipients",
)


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


# --------------------------------------------------------------------------------------------
# Small text utilities
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Charsets
# --------------------------------------------------------------------------------------------

# Charset labels seen in the wild that Python either does not know or knows only as a narrower
# subset than what senders actually put in the bytes (the WHATWG encoding spec does the same).
_CHARSET_PREFERENCES: Final[dict[str, tuple[str, ...]]] = {
    "iso-8859-1": ("cp1252",),
    "iso8859-1": ("cp1252",),
    "iso_8859-1": ("cp1252",),
    "latin1": ("cp1252",),
    "latin-1": ("cp1252",),
    "iso-8859-8-i": ("iso8859_8",),
    "ks_c_5601-1987": ("cp949",),
    "euc-kr": ("cp949",),
    "gb2312": ("gb18030",),
    "gbk": ("gb18030",),
    "x-gbk": ("gb18030",),
    "shift_jis": ("cp932",),
    "shift-jis": ("cp932",),
    "sjis": ("cp932",),
    "x-sjis": ("cp932",),
    "windows-31j": ("cp932",),
    "iso-2022-jp": ("iso2022_jp", "iso2022_jp_ext", "iso2022_jp_2"),
    "unicode-1-1-utf-7": ("utf-7",),
}
_MEANINGLESS_CHARSETS: Final = frozenset(
    {"unknown-8bit", "x-unknown", "unknown", "x-user-defined", "default", "none", "8bit"}
)
# Text codecs that would interpret rather than decode attacker-chosen bytes.
_UNSAFE_CODECS: Final = frozenset(
    {"undefined", "unicode_escape", "raw_unicode_escape", "idna", "punycode", "mbcs", "oem"}
)


_SINGLE_BYTE_CODECS: Final = frozenset(
    {"ascii", "latin-1", "iso8859-1", "iso8859-15", "cp1252", "cp1250", "cp1257"}
)


def _lookup_codec(label: str) -> str | None:
    cleaned = label.strip().strip("\"'").lower().split("*", 1)[0]
    if not cleaned or len(cleaned) > 40 or cleaned in _MEANINGLESS_CHARSETS:
        return None
    for candidate in (cleaned, cleaned.replace("-", ""), cleaned.removeprefix("x-")):
        try:
            info = codecs.lookup(candidate)
        except Exception:  # noqa: S112 - LookupError, or ValueError for NULs in the label
            continue
        if not getattr(info, "_is_text_encoding", True) or info.name in _UNSAFE_CODECS:
            return None
        return info.name
    return None


def _declared_codecs(charset: str | None) -> list[str]:
    if not charset:
        return []
    key = charset.strip().strip("\"'").lower().split("*", 1)[0]
    names = list(_CHARSET_PREFERENCES.get(key, ()))
    codec = _lookup_codec(key)
    if codec and codec not in names:
        names.append(codec)
    return names


def _try_decode(data: bytes, codec: str, errors: str = "strict") -> str | None:
    try:
        return data.decode(codec, errors)
    except Exception:  # UnicodeDecodeError, or odd codec failures on hostile bytes
        return None


def _decode_bytes(data: bytes, charset: str | None) -> tuple[str, bool]:
    """Decode ``data`` as best we can; the flag says a fallback (possible mojibake) was used."""
    declared = _declared_codecs(charset)
    if declared and declared[0] in _SINGLE_BYTE_CODECS and not data.isascii():
        # Valid multi-byte UTF-8 is vanishingly unlikely in real Latin-1/ASCII text, while
        # UTF-8 mislabelled as Latin-1/ASCII is common; decoding it as declared is mojibake.
        text = _try_decode(data, "utf-8")
        if text is not None:
            return text, False
    for codec in declared:
        text = _try_decode(data, codec)
        if text is not None:
            return text, False
    text = _try_decode(data, "utf-8")
    if text is not None:
        return text, bool(charset) and not declared
    # A mostly-right charset with a few bad bytes reads better with U+FFFD than a whole-text
    # cp1252 guess; a wrong guess shows up as about one replacement per non-ASCII byte.
    non_ascii = len(data) - len(data.decode("ascii", "ignore"))
    for codec in (*declared[:1], "utf-8"):
        replaced = _try_decode(data, codec, "replace")
        if replaced is not None and replaced.count("\ufffd") * 4 <= non_ascii:
            return replaced, True
    text = _try_decode(data, "cp1252")
    if text is not None:
        return text, True
    return data.decode("latin-1"), True


def _fix_surrogates(value: str, hint: str | None = None) -> str:
    """BytesParser keeps 8-bit header bytes as surrogate escapes; turn them into real text.

    RFC 6532 says raw header bytes are UTF-8; older senders used the body's charset instead,
    so that is the second guess (``hint``).
    """
    if not any("\udc80" <= ch <= "\udcff" for ch in value):
        return value
    try:
        data = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return _valid_str(value)
    text = _try_decode(data, "utf-8")
    if text is None and hint:
        codec = _lookup_codec(hint)
        text = _try_decode(data, codec) if codec else None
    return text if text is not None else _decode_bytes(data, None)[0]


# --------------------------------------------------------------------------------------------
# RFC 2047 encoded words
# --------------------------------------------------------------------------------------------

_ENCODED_WORD_RE: Final = re.compile(r"=\?([^?\s]{1,64})\?([QqBb])\?([^?]*)\?=")
_QP_HEX_RE: Final = re.compile(rb"=([0-9A-Fa-f]{2})")
_B64_JUNK_RE: Final = re.compile(r"[^A-Za-z0-9+/]")


def _word_bytes(encoding: str, payload: str) -> bytes | None:
    if encoding in "Bb":
        cleaned = _B64_JUNK_RE.sub("", payload)
        if len(cleaned) % 4 == 1:
            cleaned = cleaned[:-1]
        cleaned += "=" * (-len(cleaned) % 4)
        try:
            return base64.b64decode(cleaned)
        except (binascii.Error, ValueError):
            return None
    data = payload.replace("_", " ").encode("utf-8", "replace")
    return _QP_HEX_RE.sub(lambda m: bytes([int(m.group(1), 16)]), data)


def _decode_rfc2047(value: str) -> str:
    """Decode encoded words leniently (unknown charsets, bad padding, words inside quotes)."""
    if "=?" not in value:
        return value
    out: list[str] = []
    buffer = bytearray()
    buffer_charset: str | None = None
    position = 0

    def flush() -> None:
        nonlocal buffer_charset
        if buffer_charset is not None:
            out.append(_decode_bytes(bytes(buffer), buffer_charset)[0])
            buffer.clear()
            buffer_charset = None

    for match in _ENCODED_WORD_RE.finditer(value):
        gap = value[position : match.start()]
        # Whitespace between two encoded words is folding, not content (RFC 2047 section 6.2).
        if gap and not (buffer_charset is not None and not gap.strip()):
            flush()
            out.append(gap)
        charset, encoding, payload = match.groups()
        data = _word_bytes(encoding, payload)
        position = match.end()
        if data is None:
            flush()
            out.append(match.group(0))
            continue
        key = charset.split("*", 1)[0].lower()
        if buffer_charset is not None and key != buffer_charset:
            flush()
        # Adjacent words in one charset are joined as bytes: senders split multibyte chars.
        buffer_charset = key
        buffer.extend(data)
    flush()
    out.append(value[position:])
    return "".join(out)


def _unfold(value: str) -> str:
    return _UNFOLD_RE.sub("", value).replace("\r", " ").replace("\n", " ")


def _header_text(raw: str) -> str:
    return _valid_str(_one_line(_decode_rfc2047(_unfold(raw))))


# --------------------------------------------------------------------------------------------
# Header access
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Addresses, message ids, dates
# --------------------------------------------------------------------------------------------

_ADDR_SPEC_RE: Final = re.compile(r"[^\s@<>()\[\]\\,;:\"]{1,64}@[^\s@<>()\[\]\\,;:\"]{1,255}")
_ADDR_SEARCH_RE: Final = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]{1,64}@[\w-]+(?:\.[\w-]+)*")


def _valid_address(address: str) -> bool:
    return bool(_ADDR_SPEC_RE.fullmatch(address)) and not address.endswith(".")


def _clean_name(name: str) -> str:
    decoded = _decode_rfc2047(name)
    return _valid_str(_one_line(decoded).strip("\"' "))


def _mailboxes(raw: str) -> list[tuple[str, str]]:
    """(display name, lower-cased address) pairs; invalid addresses are left out."""
    unfolded = _unfold(raw)[:_MAX_ADDRESS_HEADER_CHARS]
    pairs: list[tuple[str, str]] = []
    try:
        header = email_policy.default.header_factory("to", unfolded)
        pairs = [(a.display_name or "", a.addr_spec or "") for a in header.addresses]
    except Exception:  # the structured parser has crash bugs on garbage; fall back below
        pairs = []
    try:
        loose = getaddresses([unfolded])
    except Exception:
        loose = []
    if not any(_valid_address(address.strip()) for _, address in pairs):
        pairs = loose
    # The structured parser drops "addr (Comment Name)" names and mangles some encoded-word
    # phrases; the loose parser keeps both raw, which our own RFC 2047 decoder then handles.
    loose_names = {address.strip().lower(): name for name, address in loose if name}
    result: list[tuple[str, str]] = []
    for name, address in pairs:
        address = address.strip().strip("<>").strip()
        if not _valid_address(address):
            continue
        lowered = address.lower()
        loose_name = loose_names.get(lowered, "")
        chosen = loose_name if (not name or "=?" in loose_name) else name
        result.append((_clean_name(chosen), _valid_str(lowered)))
    if not result:
        result = [
            ("", _valid_str(m.group(0).lower()))
            for m in _ADDR_SEARCH_RE.finditer(_decode_rfc2047(unfolded))
            if _valid_address(m.group(0))
        ]
    return result


def _first_mailbox(values: list[str]) -> tuple[str, str]:
    fallback_name = ""
    for raw in values:
        boxes = _mailboxes(raw)
        if boxes:
            return boxes[0]
        if not fallback_name:
            fallback_name = _display_name_only(raw)
    return fallback_name, ""


def _display_name_only(raw: str) -> str:
    """Name of a mailbox whose address is unusable, e.g. ``MAILER DAEMON <>``."""
    try:
        loose = getaddresses([_unfold(raw)[:_MAX_ADDRESS_HEADER_CHARS]])
    except Exception:
        return ""
    return next((_clean_name(name) for name, _ in loose if name), "")


def _address_list(values: list[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for raw in values:
        for _, address in _mailboxes(raw):
            seen.setdefault(address, None)
    return tuple(seen)


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


# --------------------------------------------------------------------------------------------
# Header block repair
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# MIME part helpers
# --------------------------------------------------------------------------------------------

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


def _content_type(part: Message) -> str:
    try:
        ctype = part.get_content_type()
    except Exception:  # RFC 2045: an unusable Content-Type means text/plain
        return "text/plain"
    if not isinstance(ctype, str) or "/" not in ctype:
        return "text/plain"
    return _one_line(ctype).lower()


def _param(part: Message, name: str, header: str = "content-type") -> str | None:
    try:
        value = part.get_param(name, header=header)
    except Exception:
        value = None
    if isinstance(value, tuple):
        try:
            # RFC 2231 (charset, language, text) triple from the compat32 code path.
            value = str(collapse_rfc2231_value(value, errors="replace", fallback_charset="utf-8"))
        except Exception:
            value = None
    if isinstance(value, str):
        return _fix_surrogates(value)
    raw = _raw_part_header(part, header)
    return _raw_param(raw, name) if raw else None


def _charset(part: Message) -> str | None:
    try:
        value = part.get_content_charset()
    except Exception:
        value = None
    if isinstance(value, str) and value:
        return value
    raw = _raw_part_header(part, "content-type")
    return _raw_param(raw, "charset") if raw else None


def _disposition(part: Message) -> str | None:
    try:
        value = part.get_content_disposition()
    except Exception:
        value = None
    if isinstance(value, str):
        return value.strip().lower() or None
    raw = _raw_part_header(part, "content-disposition")
    if not raw:
        return None
    return _one_line(_unfold(raw).split(";", 1)[0]).lower() or None


def _part_filename(part: Message) -> str:
    name: str | None = None
    try:
        found = part.get_filename()
        name = found if isinstance(found, str) else None
    except Exception:
        name = None
    if not name:
        name = _param(part, "filename", "content-disposition") or _param(part, "name")
    # Unquoted names with spaces ("name=This is a test.txt") are cut at the first space by
    # the stdlib; the raw header still has the whole name.
    for header, param in (("content-disposition", "filename"), ("content-type", "name")):
        raw = _raw_part_header(part, header)
        loose = _loose_param(raw, param) if raw else None
        if loose and (not name or (loose.startswith(name) and len(loose) > len(name))):
            name = loose
            break
    if not name:
        location = _raw_part_header(part, "content-location")
        name = _unfold(location).strip().rsplit("/", 1)[-1] if location else None
    if not name:
        return ""
    return _decode_rfc2047(_fix_surrogates(name))


def _loose_param(raw_header: str, name: str) -> str | None:
    match = re.search(
        rf"(?:^|;)\s*{re.escape(name)}\s*=\s*([^\";][^;]*)", _unfold(raw_header), re.IGNORECASE
    )
    return match.group(1).strip() if match else None


def _content_id(part: Message) -> str:
    raw = _raw_part_header(part, "content-id")
    if not raw:
        return ""
    return _valid_str("".join(_CONTROL_RE.sub("", _unfold(raw)).split()).strip("<>"))


def _payload_bytes(part: Message, notes: _Notes, label: str) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception as exc:  # broken transfer encodings; fall back to the raw payload
        notes.add(f"{label}: could not decode transfer encoding ({type(exc).__name__})")
        data = None
    if isinstance(data, bytes | bytearray):
        return bytes(data)
    try:
        raw = part.get_payload()
    except Exception:
        return b""
    if isinstance(raw, str):
        return (
            raw.encode("utf-8", "surrogateescape")
            if _encodable(raw)
            else raw.encode("utf-8", "replace")
        )
    return b""


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return False
    return True


_GENERATOR_POLICY: Final = email_policy.default.clone(refold_source="none", max_line_length=0)


def _message_bytes(message: Message, notes: _Notes) -> bytes:
    for policy in (_GENERATOR_POLICY, email_policy.compat32):
        try:
            return message.as_bytes(policy=policy)
        except Exception:  # noqa: S112 - try the next, more forgiving generator
            continue
    notes.add("could not re-serialise an attached message; its payload is empty")
    return b""


_DEFECT_TEXT: Final[dict[str, str]] = {
    "StartBoundaryNotFoundDefect": "multipart boundary never appears in the body",
    "CloseBoundaryNotFoundDefect": "multipart closing boundary missing",
    "NoBoundaryInMultipartDefect": "multipart without a boundary parameter",
    "FirstHeaderLineIsContinuationDefect": "first header line is a continuation line",
    "MissingHeaderBodySeparatorDefect": "no blank line between headers and body",
    "InvalidBase64PaddingDefect": "invalid base64 padding",
    "InvalidBase64CharactersDefect": "invalid characters in base64",
    "InvalidBase64LengthDefect": "truncated base64",
}
_IGNORED_DEFECTS: Final = frozenset({"MultipartInvariantViolationDefect"})
_CAMEL_RE: Final = re.compile(r"(?<!^)(?=[A-Z])")


def _note_defects(part: Message, label: str, notes: _Notes) -> None:
    for defect in getattr(part, "defects", None) or ():
        name = type(defect).__name__
        if name in _IGNORED_DEFECTS:
            continue
        text = _DEFECT_TEXT.get(name) or _CAMEL_RE.sub(" ", name.removesuffix("Defect")).lower()
        notes.add(f"{label}: {text}")


# --------------------------------------------------------------------------------------------
# Plain text helpers
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------

_SAFE_TAGS: Final = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "center", "cite", "code", "col",
        "colgroup", "dd", "del", "div", "dl", "dt", "em", "font", "h1", "h2", "h3", "h4", "h5",
        "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp",
        "small", "span", "strike", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th",
        "thead", "tr", "tt", "u", "ul", "wbr",
    }
)  # fmt: skip
_DROP_WITH_CONTENT: Final = frozenset(
    {
        "script", "style", "title", "head", "iframe", "object", "embed", "applet", "noscript",
        "template", "select", "textarea", "svg", "math", "frameset", "frame", "button",
    }
)  # fmt: skip
_SAFE_ATTRIBUTES: Final[dict[str, set[str]]] = {
    "*": {"title", "dir", "lang", "align", "style"},
    "a": {"href", "name"},
    "img": {"src", "alt", "width", "height"},
    "table": {"border", "cellpadding", "cellspacing", "width", "bgcolor"},
    "td": {"colspan", "rowspan", "width", "valign", "bgcolor"},
    "th": {"colspan", "rowspan", "width", "valign", "bgcolor"},
    "tr": {"valign", "bgcolor"},
    "font": {"color", "face", "size"},
    "ol": {"start", "type"},
    "col": {"span", "width"},
    "colgroup": {"span", "width"},
}
# Only properties that cannot load anything (no url()) and cannot hide or overlay content.
_SAFE_STYLE_PROPERTIES: Final = frozenset(
    {
        "color", "background-color", "font-weight", "font-style", "font-size", "font-family",
        "text-align", "text-decoration", "vertical-align", "white-space", "line-height",
        "width", "max-width", "height", "margin", "margin-top", "margin-bottom", "margin-left",
        "margin-right", "padding", "padding-top", "padding-bottom", "padding-left",
        "padding-right", "border", "border-top", "border-bottom", "border-left", "border-right",
        "border-color", "border-style", "border-width", "border-collapse", "list-style-type",
    }
)  # fmt: skip


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    lowered = value.strip().lower()
    if tag == "img" and attribute == "src":
        # Inline images are safe. Remote ones are tracking pixels that leak the agent's IP:
        # they are kept, but parked in data-remote-src (see sanitize_html) until an agent
        # asks for them. SVG is refused because it can carry script when opened directly.
        if lowered.startswith("cid:"):
            return value
        if lowered.startswith("data:image/") and not lowered.startswith("data:image/svg"):
            return value
        if lowered.startswith(("https://", "http://")):
            return value
        return None
    if attribute == "href" and lowered.startswith(("data:", "cid:")):
        return None
    return value


_CLEANER: Final = nh3.Cleaner(
    tags=set(_SAFE_TAGS),
    clean_content_tags=set(_DROP_WITH_CONTENT),
    attributes={tag: set(attrs) for tag, attrs in _SAFE_ATTRIBUTES.items()},
    attribute_filter=_attribute_filter,
    link_rel="noopener noreferrer nofollow",
    url_schemes={"http", "https", "mailto", "tel", "cid", "data"},
    url_relative="deny",
    filter_style_properties=set(_SAFE_STYLE_PROPERTIES),
    set_tag_attribute_values={"a": {"target": "_blank"}},
    strip_comments=True,
)


# Structure html_to_text understands; everything else is unwrapped to its text by nh3.
_TEXT_STRUCTURE_TAGS: Final = frozenset(
    {
        "a", "blockquote", "br", "caption", "center", "dd", "div", "dl", "dt", "h1", "h2", "h3",
        "h4", "h5", "h6", "hr", "li", "ol", "p", "pre", "table", "tbody", "td", "tfoot", "th",
        "thead", "tr", "ul", "address", "article", "aside", "figcaption", "figure", "footer",
        "header", "main", "nav", "section",
    }
)  # fmt: skip
_TEXT_CLEANER: Final = nh3.Cleaner(
    tags=set(_TEXT_STRUCTURE_TAGS),
    clean_content_tags=set(_DROP_WITH_CONTENT),
    attributes={"a": {"href"}},
    link_rel=None,
    url_schemes={"http", "https", "mailto"},
    strip_comments=True,
)
_VOID_TAGS: Final = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
     "source", "track", "wbr", "basefont", "frame", "keygen"}
)  # fmt: skip
# Tags the HTML parser closes implicitly; counting them would overstate the nesting.
_IMPLIED_END_TAGS: Final = frozenset(
    {"p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "tbody", "thead", "tfoot",
     "colgroup", "rt", "rp", "html", "head", "body"}
)  # fmt: skip
_TAG_SCAN_RE: Final = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]{0,40})[^<>]*?(/?)>")


def _html_too_complex(html: str) -> bool:
    """Cheap, linear screen for markup that would make html5ever or our extractor crawl.

    html5ever is superlinear in element nesting and in the number of character references;
    real mail stays far below these limits (a 1 MiB newsletter has some tens of thousands).
    """
    if html.count("<") > _MAX_HTML_TAGS or html.count("&") > _MAX_HTML_ENTITIES:
        return True
    depth = 0
    for match in _TAG_SCAN_RE.finditer(html):
        name = match.group(2).lower()
        if match.group(3) or name in _VOID_TAGS or name in _IMPLIED_END_TAGS:
            continue
        if match.group(1):
            depth = max(0, depth - 1)
            continue
        depth += 1
        if depth > _MAX_HTML_NESTING:
            return True
    return False


# nh3 writes every attribute as name="value" with quotes escaped, and any "<" of the text as
# &lt;, so in its output this matches real <img> tags only.
_REMOTE_IMG_SRC_RE: Final = re.compile(r'(<img\b[^>]*?\s)src="(https?://[^"]*)"', re.IGNORECASE)


def sanitize_html(html: str) -> str:
    """Sanitise untrusted HTML for display in the agent UI.

    Keeps formatting, tables and links (with ``rel="noopener noreferrer nofollow"``); images
    with ``cid:``/``data:image`` sources as they are, remote ones with their URL moved to
    ``data-remote-src`` so nothing loads until an agent clicks "Show remote images"; drops
    script/style/iframes/forms, every ``on*`` handler and any style that could load a URL.
    Input beyond 1 MiB is cut; absurdly nested markup yields "" (show the text instead).
    """
    if not html:
        return ""
    html = _prepare_html(html)
    if _html_too_complex(html):
        return ""
    try:
        cleaned = _valid_str(_CLEANER.clean(html))
    except Exception:  # refusing to render beats rendering something unsanitised
        return ""
    return _REMOTE_IMG_SRC_RE.sub(r'\1data-remote-src="\2"', cleaned)


_SKIP_TEXT_TAGS: Final = frozenset({"script", "style", "title", "template", "svg", "math"})
_BLOCK_TAGS: Final = frozenset(
    {
        "address", "article", "aside", "caption", "center", "dd", "div", "dl", "dt", "fieldset",
        "figcaption", "figure", "footer", "form", "header", "li", "main", "nav", "section",
        "table", "tbody", "tfoot", "thead", "tr",
    }
)  # fmt: skip
_PARAGRAPH_TAGS: Final = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "pre", "hr"}
)
_WHITESPACE_RE: Final = re.compile(r"[ \t\r\n\f\v\xa0]+")
_TAG_RE: Final = re.compile(r"<[^<>]*>")
_BLANK_RUN_RE: Final = re.compile(r"\n{3,}")


class _HTMLTextExtractor:
    """Turns the simple, well-formed markup that nh3 emits into text.

    Deliberately not ``html.parser.HTMLParser``: that is quadratic on some hostile inputs
    in the Python versions we run, and nh3's output needs no real parser.
    """

    def __init__(self) -> None:
        self._lines: list[tuple[int, str]] = []
        self._current: list[str] = []
        self._current_depth = 0
        self._want_breaks = 0
        self._skip = 0
        self._pre = 0
        self._quote = 0
        self._lists: list[int | None] = []
        self._href: str | None = None
        self._anchor_text: list[str] = []

    # -- output plumbing
    def _break(self, count: int) -> None:
        if self._current or self._lines:
            self._want_breaks = max(self._want_breaks, count)

    def _flush(self) -> None:
        self._lines.append((self._current_depth, "".join(self._current).rstrip()))
        self._current = []

    def _emit(self, text: str) -> None:
        if not text:
            return
        if self._want_breaks:
            if self._current or self._lines:
                self._flush()
                # A separator belongs to the shallower side, so entering a quote does not
                # start with an empty ">" line.
                depth = min(self._lines[-1][0], self._quote)
                self._lines.extend((depth, "") for _ in range(self._want_breaks - 1))
            self._want_breaks = 0
        if not self._current:
            if not self._pre:
                text = text.lstrip(" ")
                if not text:
                    return
            self._current_depth = self._quote
        elif not self._pre and text.startswith(" ") and self._current[-1].endswith(" "):
            text = text.lstrip(" ")
        self._current.append(text)
        if self._href is not None:
            self._anchor_text.append(text)

    def feed(self, normalised_html: str) -> None:
        for match in _NORMALISED_TOKEN_RE.finditer(normalised_html):
            tag = match.group(2)
            if tag is None:
                self.handle_data(unescape(match.group(0)))
            elif match.group(1):
                self.handle_endtag(tag.lower())
            else:
                attrs = [(k.lower(), unescape(v)) for k, v in _ATTR_RE.findall(match.group(3))]
                self.handle_starttag(tag.lower(), attrs)
                if match.group(4) or tag.lower() in _VOID_TAGS:
                    self.handle_endtag(tag.lower())

    # -- markup events
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str]]) -> None:
        if tag == "body":
            self._skip = 0  # an unclosed <title>/<style> must not swallow the whole body
            return
        if tag in _SKIP_TEXT_TAGS:
            self._skip += 1
            return
        if self._skip:
            return
        if tag == "br":
            self._want_breaks += 1 if (self._current or self._lines) else 0
        elif tag == "blockquote":
            self._break(2)
            self._quote += 1
        elif tag in ("ul", "ol"):
            self._break(2 if not self._lists else 1)
            self._lists.append(0 if tag == "ol" else None)
        elif tag == "li":
            self._break(1)
            if self._lists and self._lists[-1] is not None:
                number = (self._lists[-1] or 0) + 1
                self._lists[-1] = number
                self._emit(f"{number}. ")
            else:
                self._emit("- ")
        elif tag in _PARAGRAPH_TAGS:
            self._break(2)
            if tag == "pre":
                self._pre += 1
        elif tag in _BLOCK_TAGS:
            self._break(1)
        elif tag in ("td", "th"):
            if self._current:
                self._emit(" ")
        elif tag == "a":
            href = next((v for k, v in attrs if k == "href" and v), None)
            self._href = href.strip() if href else None
            self._anchor_text = []

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TEXT_TAGS:
            self._skip = max(0, self._skip - 1)
            return
        if self._skip:
            return
        if tag == "blockquote":
            self._break(2)
            self._quote = max(0, self._quote - 1)
        elif tag in ("ul", "ol"):
            if self._lists:
                self._lists.pop()
            self._break(2 if not self._lists else 1)
        elif tag in _PARAGRAPH_TAGS:
            if tag == "pre":
                self._pre = max(0, self._pre - 1)
            self._break(2)
        elif tag in _BLOCK_TAGS:
            self._break(1)
        elif tag == "a" and self._href is not None:
            href, self._href = self._href, None
            shown = "".join(self._anchor_text)
            # Keep link targets an agent needs ("click here"), skip ones already visible.
            if href.lower().startswith(("http://", "https://")) and href not in shown:
                if shown.strip():
                    self._emit(f" ({href[:2000]})")

    def handle_data(self, data: str) -> None:
        if self._skip or not data:
            return
        if self._pre:
            pieces = _normalise_newlines(data).replace("\xa0", " ").split("\n")
            for index, piece in enumerate(pieces):
                if index:
                    if self._current or self._lines:
                        self._want_breaks += 1
                self._emit(piece)
            return
        self._emit(_WHITESPACE_RE.sub(" ", data))

    def render(self) -> str:
        if self._current:
            self._flush()
        rendered = []
        for depth, text in self._lines:
            prefix = "> " * depth
            rendered.append((prefix + text).rstrip() if text else prefix.rstrip())
        joined = "\n".join(rendered).strip("\n")
        return _BLANK_RUN_RE.sub("\n\n", joined)


# nh3 output: tags with double-quoted attributes (values may contain ">"), or text.
_NORMALISED_TOKEN_RE: Final = re.compile(
    r'<(/?)([A-Za-z][A-Za-z0-9]*)((?:\s+[^\s="\'<>/]+(?:="[^"]*")?)*)\s*(/?)>|[^<]+|<'
)
_ATTR_RE: Final = re.compile(r'([^\s="\'<>/]+)="([^"]*)"')
# html5ever is quadratic on runs of "&" that do not form a character reference, so those are
# escaped first. Legacy names browsers accept without ";" are left alone.
_BARE_AMPERSAND_RE: Final = re.compile(
    r"&(?!#[0-9]{1,8}|#[xX][0-9A-Fa-f]{1,8}|[A-Za-z][A-Za-z0-9]{1,31};"
    r"|(?:nbsp|amp|lt|gt|quot|copy|reg)(?![A-Za-z0-9]))"
)


def _prepare_html(html: str) -> str:
    return _BARE_AMPERSAND_RE.sub("&amp;", _valid_str(html[:_MAX_HTML_CHARS]))


def html_to_text(html: str) -> str:
    """Readable plain text from HTML: paragraphs and line breaks kept, script/style dropped,
    ``<blockquote>`` rendered as ``>``-quoted lines so :func:`split_quoted` works on it."""
    if not html:
        return ""
    html = _prepare_html(html)
    text: str | None = None
    if not _html_too_complex(html):
        try:
            # html5ever (Rust) first turns hostile markup into simple, well-formed tags.
            extractor = _HTMLTextExtractor()
            extractor.feed(_TEXT_CLEANER.clean(html))
            text = extractor.render()
        except Exception:  # fall back to the crude but linear stripper below
            text = None
    if text is None:
        text = _crude_html_text(html)
    return _tidy_text(text.replace("\xa0", " "))


def _crude_html_text(html: str) -> str:
    """Tag stripper for markup too hostile for a real parser; linear by construction."""
    lowered = html.lower()
    pieces: list[str] = []
    position = 0
    while True:
        start = min(
            (
                i
                for i in (lowered.find("<script", position), lowered.find("<style", position))
                if i >= 0
            ),
            default=-1,
        )
        if start < 0:
            pieces.append(html[position:])
            break
        pieces.append(html[position:start])
        tag = "</script" if lowered.startswith("<script", start) else "</style"
        end = lowered.find(tag, start)
        if end < 0:
            break
        position = end + len(tag)
    stripped = _TAG_RE.sub(" ", "".join(pieces))
    lines = (" ".join(line.split()) for line in unescape(stripped).splitlines())
    return _BLANK_RUN_RE.sub("\n\n", "\n".join(lines).strip())


# --------------------------------------------------------------------------------------------
# Quoted history
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Forward / token / bounce helpers
# --------------------------------------------------------------------------------------------

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


_AUTO_SUBJECT_RE: Final = re.compile(
    r"^\s*[\[(]?\s*(?:out of (?:the )?office|automatic reply|auto[- ]?reply|autoreply|"
    r"auto[- ]?response|abwesenheitsnotiz|automatische antwort|réponse automatique|"
    r"respuesta automática|risposta automatica|afwezigheidsbericht)\b",
    re.IGNORECASE,
)
_DSN_SUBJECT_RE: Final = re.compile(
    r"undelivered mail|delivery status notification|mail delivery failed|undeliverable|"
    r"returned mail|delivery failure|failure notice|non-delivery",
    re.IGNORECASE,
)
_DAEMON_NAME_RE: Final = re.compile(
    r"mailer[- ]?daemon|mail delivery (?:sub)?system", re.IGNORECASE
)
_DAEMON_LOCALS: Final = frozenset({"mailer-daemon", "mailer_daemon", "mailerdaemon"})
_TEXT_MSGID_RE: Final = re.compile(r"^\s*message-id:\s*(<[^<>\s]{1,900}>)", re.I | re.M)


def _dsn_address(value: str) -> str:
    address = _unfold(value).split(";", 1)[-1].strip().strip("<>").strip().lower()
    return _valid_str(address) if _valid_address(address) else ""


# --------------------------------------------------------------------------------------------
# The MIME walker
# --------------------------------------------------------------------------------------------

_HEADER_TEXT_LINE_RE: Final = re.compile(r"^([!-9;-~]+):[ \t]*(.*)$")
_DASH_BOUNDARY_RE: Final = re.compile(rb"^--([!-~][ -~]{0,69}?)[ \t]*\r?\n[!-9;-~]+:", re.M)
_EMBEDDED_TYPES: Final = frozenset({"message/rfc822", "message/global", "message/news"})


def _scan_header_text(text: str) -> list[tuple[str, str]]:
    """Lenient header-block reader for text/rfc822-headers and unparsed delivery-status."""
    fields: list[tuple[str, str]] = []
    for line in _normalise_newlines(text).split("\n"):
        if line[:1] in (" ", "\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, f"{value} {line.strip()}")
            continue
        match = _HEADER_TEXT_LINE_RE.match(line)
        if match:
            fields.append((match.group(1).lower(), match.group(2)))
    return fields


class _Walker:
    def __init__(self, max_attachment_bytes: int, notes: _Notes, max_parts: int) -> None:
        self.max_attachment_bytes = max_attachment_bytes
        self.notes = notes
        self.max_parts = max_parts
        self.plain: list[str] = []
        self.html: list[str] = []
        self.attachments: list[ParsedAttachment] = []
        self.embedded: list[Message] = []
        # Messages attached by a person (a forward), as opposed to digest members.
        self.forwarded: list[Message] = []
        self._digest_depth = 0
        self.dsn_fields: list[tuple[str, str]] = []
        self.enclosed_headers: list[list[tuple[str, str]]] = []
        self.report_types: list[str] = []
        self.has_dsn = False
        self.parts_seen = 0

    def walk(self, part: Message, depth: int) -> None:
        if self.parts_seen >= self.max_parts:
            self.notes.add(f"more than {self.max_parts} MIME parts; the rest were skipped")
            return
        if depth > _MAX_DEPTH:
            self.notes.add(f"MIME nesting deeper than {_MAX_DEPTH}; inner parts skipped")
            return
        self.parts_seen += 1
        ctype = _content_type(part)
        try:
            self._visit(part, ctype, depth)
        except Exception as exc:  # one broken part must not cost the rest of the message
            self.notes.add(f"{ctype} part skipped: {type(exc).__name__}: {str(exc)[:80]}")
        _note_defects(part, ctype, self.notes)

    def _visit(self, part: Message, ctype: str, depth: int) -> None:
        maintype = ctype.split("/", 1)[0]
        payload = part.get_payload()
        if isinstance(payload, list):
            if ctype == "message/delivery-status":
                self.has_dsn = True
                for block in payload:
                    if isinstance(block, Message):
                        self.dsn_fields.extend(
                            (str(name).lower(), _fix_surrogates(str(value)))
                            for name, value in block.raw_items()
                        )
                return
            if maintype == "message":
                first = payload[0] if payload else None
                if ctype in _EMBEDDED_TYPES and isinstance(first, Message):
                    self._embedded(part, first)
                # Other message/* (MDNs, ARF reports, external-body) are machine data; the raw
                # mail is stored by the caller, so nothing is lost by not rendering them.
                return
            if ctype == "multipart/report":
                self.report_types.append((_param(part, "report-type") or "").strip().lower())
            digest = ctype == "multipart/digest"
            self._digest_depth += digest
            try:
                for child in payload:
                    if isinstance(child, Message):
                        self.walk(child, depth + 1)
            finally:
                self._digest_depth -= digest
            return

        if maintype == "multipart":
            recovered = self._recover_multipart(part, ctype)
            if recovered is not None:
                self.notes.add(f"{ctype}: recovered parts with a corrected boundary")
                for child in recovered:
                    self.walk(child, depth + 1)
                return
            self.notes.add(f"{ctype} without a usable boundary; body kept as plain text")
            self._body(part, "text/plain")
            return
        if ctype == "message/delivery-status":
            self.has_dsn = True
            data = _payload_bytes(part, self.notes, ctype)
            self.dsn_fields.extend(_scan_header_text(_decode_bytes(data, None)[0]))
            return
        if ctype == "text/rfc822-headers":
            data = _payload_bytes(part, self.notes, ctype)
            self.enclosed_headers.append(_scan_header_text(_decode_bytes(data, None)[0]))
            return

        disposition = _disposition(part)
        filename = _part_filename(part)
        is_body_type = ctype in ("text/plain", "text/html")
        if is_body_type and disposition != "attachment" and (not filename or depth == 0):
            self._body(part, ctype)
            return
        self._attachment(part, ctype, filename, disposition)

    def _body(self, part: Message, ctype: str) -> None:
        data = _payload_bytes(part, self.notes, ctype)
        charset = _charset(part)
        text, lossy = _decode_bytes(data, charset)
        if lossy and data:
            self.notes.add(
                f"{ctype}: charset {charset or 'unknown'!r} did not fit; decoded leniently"
            )
        text = _normalise_newlines(text)
        if ctype == "text/html":
            self.html.append(text)
            return
        if (_param(part, "format") or "").lower() == "flowed":
            text = _unflow(text, (_param(part, "delsp") or "").lower() == "yes")
        self.plain.append(text)

    def _attachment(
        self,
        part: Message,
        ctype: str,
        filename: str,
        disposition: str | None,
        payload: bytes | None = None,
        default_ext: str = ".bin",
    ) -> None:
        index = len(self.attachments) + 1
        name = safe_filename(filename, index, default_ext=default_ext)
        data = payload if payload is not None else _payload_bytes(part, self.notes, ctype)
        size = len(data)
        oversized = size > self.max_attachment_bytes
        if oversized:
            self.notes.add(f"attachment {name!r} ({size} bytes) exceeds the limit; dropped")
            data = b""
        content_id = _content_id(part)
        inline = disposition == "inline" or (disposition is None and bool(content_id))
        self.attachments.append(
            ParsedAttachment(
                filename=name,
                content_type=ctype,
                payload=data,
                content_id=content_id,
                inline=inline,
                oversized=oversized,
                size=size,
            )
        )

    def _embedded(self, part: Message, inner: Message) -> None:
        self.embedded.append(inner)
        if not self._digest_depth:
            self.forwarded.append(inner)
        filename = _part_filename(part)
        if not filename:
            subject = _Headers(inner).text("subject")
            filename = f"{subject[:150]}.eml" if subject else ""
        data = _message_bytes(inner, self.notes)
        self._attachment(
            part, "message/rfc822", filename, _disposition(part), payload=data, default_ext=".eml"
        )

    def _recover_multipart(self, part: Message, ctype: str) -> list[Message] | None:
        """Re-split a multipart whose boundary the stdlib could not use.

        Real causes in the corpus: unquoted boundaries containing ``=`` (Outlook Express) that
        the stdlib truncates, and bodies whose delimiter differs from the declared boundary.
        """
        body = _payload_bytes(part, self.notes, ctype)
        if not body or len(body) > _MAX_RECOVERY_BYTES:
            return None
        candidates: list[bytes] = []
        raw_ct = _raw_part_header(part, "content-type")
        declared = _raw_param(raw_ct, "boundary") if raw_ct else None
        if declared:
            candidates.append(declared.strip().encode("utf-8", "replace"))
        detected = _DASH_BOUNDARY_RE.search(body)
        if detected:
            candidates.append(detected.group(1).rstrip(b"-") or detected.group(1))
        for boundary in candidates:
            if not boundary or b'"' in boundary or b"--" + boundary not in body:
                continue
            if not all(32 <= byte < 127 for byte in boundary):
                continue
            head = b"Content-Type: " + ctype.encode("ascii", "replace")
            head += b'; boundary="' + boundary + b'"\r\n\r\n'
            try:
                reparsed = BytesParser(policy=email_policy.default).parsebytes(head + body)
                children = reparsed.get_payload()
            except Exception:  # noqa: S112 - try the next candidate boundary
                continue
            if isinstance(children, list) and children:
                return [child for child in children if isinstance(child, Message)]
        return None

    def plain_text(self) -> str:
        return "\n\n".join(t for t in (_tidy_text(p) for p in self.plain) if t.strip())

    def html_source(self) -> str:
        return "\n".join(h for h in self.html if h.strip())


def _message_text(walker: _Walker) -> str:
    text = walker.plain_text()
    if not text.strip():
        html_source = walker.html_source()
        text = html_to_text(html_source) if html_source else ""
    return text


def _embedded_text(inner: Message, notes: _Notes, depth: int) -> str:
    """Readable text of a forwarded-as-attachment message, headed like a forward block."""
    walker = _Walker(0, _Notes(), max_parts=100)
    walker.walk(inner, 0)
    body = _message_text(walker)
    if not body.strip() and walker.embedded and depth < _MAX_EMBEDDED_TEXT_DEPTH:
        body = _embedded_text(walker.embedded[0], notes, depth + 1)
    headers = _Headers(inner)
    lines = ["---------- Forwarded message ----------"]
    for label in ("From", "Date", "Subject", "To"):
        value = headers.text(label.lower())
        if value:
            lines.append(f"{label}: {value}")
    return "\n".join(lines) + "\n\n" + body


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def safe_filename(name: str | None, index: int = 1, *, default_ext: str = ".bin") -> str:
    """A display/storage-safe file name: basename only, no control or bidi characters, at most
    200 characters (extension kept), ``attachment-{index}{default_ext}`` when nothing is left."""
    fallback = f"attachment-{index}{default_ext}"
    if not name:
        return fallback
    text = unicodedata.normalize("NFC", _valid_str(str(name)))
    text = re.split(r"[/\\]", text)[-1]
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    text = " ".join(text.split()).strip(" .")
    if not text:
        return fallback
    if len(text) > 200:
        stem, dot, ext = text.rpartition(".")
        if dot and 0 < len(ext) <= 16 and stem:
            text = f"{stem[: 200 - len(ext) - 1].rstrip(' .')}.{ext}"
        else:
            text = text[:200].rstrip(" .")
    return text or fallback


def _coerce_bytes(raw: object) -> bytes:
    if isinstance(raw, bytes):
        return raw
    if isinstance(raw, bytearray | memoryview):
        return bytes(raw)
    raise EmailParseError("not_bytes", f"expected bytes, got {type(raw).__name__}")


def _parse_message(data: bytes) -> Message:
    try:
        return BytesParser(policy=email_policy.default).parsebytes(data)
    except RecursionError as exc:
        raise EmailParseError("too_deep", "MIME structure nested too deeply") from exc
    except Exception:  # retry with the older, simpler header handling
        try:
            return BytesParser(policy=email_policy.compat32).parsebytes(data)
        except Exception as exc:
            raise EmailParseError("unparseable", f"{type(exc).__name__}: {exc}") from exc


def parse_email(
    raw: bytes, *, max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES
) -> ParsedEmail:
    """Parse raw RFC 5322 bytes. Raises only :class:`EmailParseError`."""
    data = _coerce_bytes(raw)
    try:
        limit = max(0, int(max_attachment_bytes))
    except (TypeError, ValueError) as exc:
        raise EmailParseError("bad_argument", "max_attachment_bytes must be an int") from exc
    if not data.strip():
        raise EmailParseError("empty", "no bytes (or only whitespace) to parse")
    notes = _Notes()
    try:
        data = _repair_header_block(data, notes)
        message = _parse_message(data)
        headers = _Headers(message)
        if not headers:
            raise EmailParseError("no_headers", "no header fields found before the body")
        return _build(message, headers, notes, limit)
    except EmailParseError:
        raise
    except RecursionError as exc:
        raise EmailParseError("too_deep", "MIME structure nested too deeply") from exc
    except Exception as exc:  # the contract: nothing but EmailParseError escapes
        raise EmailParseError("internal_error", f"{type(exc).__name__}: {exc}") from exc


def _build(message: Message, headers: _Headers, notes: _Notes, limit: int) -> ParsedEmail:
    _note_defects(message, "message", notes)
    walker = _Walker(limit, notes, max_parts=_MAX_PARTS)
    walker.walk(message, 0)

    subject = headers.text("subject")
    if len(subject) > _MAX_SUBJECT_CHARS:
        notes.add(f"subject truncated from {len(subject)} characters")
        subject = subject[:_MAX_SUBJECT_CHARS]
    from_name, from_address = _first_mailbox(headers.all("from"))
    reply_to = next(iter(_address_list(headers.all("reply-to"))), "")
    in_reply_to = _msgids(headers.all("in-reply-to"))
    references = _msgids(headers.all("references"))
    message_id = next(iter(_msgids(headers.all("message-id")[:1])), "")

    return_path = headers.text("return-path")
    null_sender = return_path.replace(" ", "") == "<>"
    report_types = walker.report_types
    local_part = from_address.split("@", 1)[0]
    dsn_subject = bool(_DSN_SUBJECT_RE.search(subject))
    is_bounce = (
        "delivery-status" in report_types
        or walker.has_dsn
        or local_part in _DAEMON_LOCALS
        or bool(_DAEMON_NAME_RE.search(from_name))
        or headers.has("x-failed-recipients")
        # postmaster@ is also a human role address, so it needs a second signal.
        or (local_part == "postmaster" and (dsn_subject or null_sender))
        or (null_sender and dsn_subject)
    )

    text = _message_text(walker)
    if not text.strip() and walker.embedded and not is_bounce and not report_types:
        text = _embedded_text(walker.embedded[0], notes, 0)
    html_source = walker.html_source()
    html = sanitize_html(html_source) if html_source else ""
    if len(html_source) > _MAX_HTML_CHARS:
        notes.add(f"HTML body larger than {_MAX_HTML_CHARS} characters; the rest was cut")
    if html_source.strip() and not html:
        notes.add("HTML body too complex to render safely; showing text only")
    if not text.strip() and not html.strip() and not walker.attachments:
        notes.add("no readable body text or attachments")

    bounced_ids: tuple[str, ...] = ()
    bounce_recipients: tuple[str, ...] = ()
    if is_bounce:
        bounced_ids = _bounced_ids(walker, headers, in_reply_to, references, text)
        bounce_recipients = _bounce_recipients(walker, headers)

    forwarded_from: tuple[str, str] | None = None
    if _FORWARD_SUBJECT_RE.match(subject):
        forwarded_from = _forward_in_text(text)
    if forwarded_from is None and walker.forwarded and not is_bounce and not report_types:
        inner_from = _first_mailbox(_Headers(walker.forwarded[0]).all("from"))
        if inner_from[1]:
            forwarded_from = inner_from

    kept = {name: headers.text(name.lower()) for name in _KEPT_HEADERS if headers.has(name.lower())}

    return ParsedEmail(
        message_id=message_id,
        in_reply_to=in_reply_to,
        references=references,
        subject=subject,
        from_name=from_name,
        from_address=from_address,
        reply_to=reply_to,
        to=_address_list(headers.all("to")),
        cc=_address_list(headers.all("cc")),
        date=_parse_date(headers.first("date"), notes),
        text=text,
        html=html,
        attachments=tuple(walker.attachments),
        is_auto_reply=_is_auto_reply(headers, subject, report_types, is_bounce, null_sender),
        is_bulk=_is_bulk(headers),
        is_bounce=is_bounce,
        bounced_message_ids=bounced_ids,
        bounce_recipients=bounce_recipients,
        ticket_token=_ticket_token(subject, in_reply_to, references),
        headers=kept,
        warnings=tuple(notes.items),
        quoted_text_start=_quote_start(text),
        forwarded_from=forwarded_from,
    )


def _is_auto_reply(
    headers: _Headers, subject: str, report_types: list[str], is_bounce: bool, null_sender: bool
) -> bool:
    auto_submitted = headers.text("auto-submitted").split(";", 1)[0].strip().lower()
    if headers.has("auto-submitted") and auto_submitted != "no":
        return True
    for name in ("x-autoreply", "x-autorespond", "x-autoresponder"):
        if headers.has(name) and headers.text(name).lower() not in ("no", "false", "0"):
            return True
    suppress = set(re.split(r"[\s,;]+", headers.text("x-auto-response-suppress").lower()))
    if suppress & {"all", "autoreply", "oof"}:
        return True
    if headers.text("precedence").lower() == "auto_reply":
        return True
    if headers.text("x-autogenerated").lower() == "reply":
        return True
    if _AUTO_SUBJECT_RE.match(subject):
        return True
    # Read receipts and abuse reports are machine-generated too and must never be answered.
    if any(rt != "delivery-status" for rt in report_types):
        return True
    # RFC 3834 section 3.3: automatic responses are sent with a null envelope sender.
    return null_sender and not is_bounce


def _is_bulk(headers: _Headers) -> bool:
    if headers.text("precedence").lower() in ("bulk", "list", "junk"):
        return True
    return headers.has("list-id") or headers.has("list-unsubscribe")


def _bounced_ids(
    walker: _Walker,
    headers: _Headers,
    in_reply_to: tuple[str, ...],
    references: tuple[str, ...],
    text: str,
) -> tuple[str, ...]:
    enclosed: list[str] = []
    for inner in walker.embedded:
        enclosed.extend(_Headers(inner).all("message-id")[:1])
    for fields in walker.enclosed_headers:
        enclosed.extend(value for name, value in fields if name == "message-id")
    found = _msgids(enclosed)
    if found:
        return found
    original = [value for name, value in walker.dsn_fields if name == "original-message-id"]
    found = _msgids(original + headers.all("original-message-id"))
    if found:
        return found
    found = tuple(dict.fromkeys((*in_reply_to, *references)))
    if found:
        return found
    # Non-DSN bounces (Gmail, qmail) paste the original headers into the text body.
    return _msgids(_TEXT_MSGID_RE.findall(text))


def _bounce_recipients(walker: _Walker, headers: _Headers) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for name, value in walker.dsn_fields:
        if name in ("final-recipient", "original-recipient"):
            address = _dsn_address(value)
            if address:
                seen.setdefault(address, None)
    if not seen:
        for value in headers.all("x-failed-recipients"):
            for piece in _unfold(value).split(","):
                address = _dsn_address(piece)
                if address:
                    seen.setdefault(address, None)
    return tuple(seen)

"""Charsets (lenient, WHATWG-like labels) and RFC 2047 encoded words in headers."""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from typing import Final

from .common import _UNFOLD_RE, _one_line, _valid_str

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

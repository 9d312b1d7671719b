"""The MIME walk: bodies, attachments, embedded messages and delivery-status parts."""

from __future__ import annotations

import re
import unicodedata
from email import policy as email_policy
from email.message import Message
from email.parser import BytesParser
from email.utils import collapse_rfc2231_value
from typing import Final

from .charsets import _decode_bytes, _decode_rfc2047, _fix_surrogates, _unfold
from .common import (
    _CONTROL_RE,
    _MAX_DEPTH,
    _MAX_EMBEDDED_TEXT_DEPTH,
    _MAX_RECOVERY_BYTES,
    ParsedAttachment,
    _normalise_newlines,
    _Notes,
    _one_line,
    _tidy_text,
    _unflow,
    _valid_str,
)
from .headers import _charset, _Headers, _raw_param, _raw_part_header
from .html_text import html_to_text


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


_HEADER_TEXT_LINE_RE: Final = re.compile(r"^([!-9;-~]+):[ \t]*(.*)$")
_DASH_BOUNDARY_RE: Final = re.compile(rb"^--([!-~][ -~]{0,69}?)[ \t]*\r?\n[!-9;-~]+:", re.M)
_EMBEDDED_TYPES: Final = frozenset({"message/rfc822", "message/global", "message/news"})
# RFC 3464 and its internationalised form (RFC 6533)
_DSN_TYPES: Final = frozenset({"message/delivery-status", "message/global-delivery-status"})


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
        # Every content type seen, for classification by structure (report parts and the like).
        self.part_types: set[str] = set()
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
        self.part_types.add(ctype)
        try:
            self._visit(part, ctype, depth)
        except Exception as exc:  # one broken part must not cost the rest of the message
            self.notes.add(f"{ctype} part skipped: {type(exc).__name__}: {str(exc)[:80]}")
        _note_defects(part, ctype, self.notes)

    def _visit(self, part: Message, ctype: str, depth: int) -> None:
        maintype = ctype.split("/", 1)[0]
        payload = part.get_payload()
        if isinstance(payload, list):
            if ctype in _DSN_TYPES:
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
        if ctype in _DSN_TYPES:
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

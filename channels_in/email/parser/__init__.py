"""Turn raw RFC 5322 bytes into a typed, sanitised :class:`ParsedEmail`.

This module is deliberately pure: no Django, no ORM, no settings. It is fed whatever arrives
over IMAP/SMTP/webhooks, which in practice includes mail that no RFC would recognise, so the
contract is strict: :func:`parse_email` either returns a :class:`ParsedEmail` or raises
:class:`EmailParseError`. A broken part costs only that part (noted in ``warnings``), never the
whole message.

Header decoding is done here from the raw header values rather than through the stdlib's
structured headers, because the structured parser raises or silently drops data on the broken
RFC 2047 words, unknown charsets and stray 8-bit bytes that real senders produce.

The package, one job per module (each imports only the ones above it):

- ``common``: limits, the result types, small text helpers;
- ``charsets``: charset labels and RFC 2047 encoded words;
- ``headers``: header fields and part parameters, message ids, dates, header-block repair;
- ``addresses``: mailboxes from address headers;
- ``tickets.sanitize`` (the core): the HTML sanitiser, since ``Message.html`` is shown as safe;
- ``html_text``: HTML to readable text;
- ``quotes``: quoted history and signatures;
- ``forwards``: forwarded messages and ticket tokens;
- ``mime``: the MIME walk (bodies, attachments, embedded messages, report parts);
- ``classify``: bounces, reports, auto-replies, lists (see its docstring for who decides what);
- ``auth``: ``Authentication-Results`` and spam filters' verdicts;
- this module: :func:`parse_email`, which puts them together.
"""

from __future__ import annotations

from email import policy as email_policy
from email.message import Message
from email.parser import BytesParser
from typing import Final

from tickets.sanitize import MAX_HTML_CHARS, sanitize_html

from .addresses import _address_list, _first_mailbox
from .auth import parse_authentication_results, spam_verdict
from .classify import Verdict, classify_message
from .common import (
    _MAX_PARTS,
    _MAX_SUBJECT_CHARS,
    DEFAULT_MAX_ATTACHMENT_BYTES,
    AuthResult,
    EmailParseError,
    ParsedAttachment,
    ParsedEmail,
    _Notes,
)
from .forwards import _FORWARD_SUBJECT_RE, _forward_in_text, _ticket_token, token_from_message_id
from .headers import _Headers, _msgids, _parse_date, _repair_header_block
from .html_text import html_to_text
from .mime import _embedded_text, _message_text, _note_defects, _Walker, safe_filename
from .quotes import _quote_start, split_quoted

__all__ = [
    "DEFAULT_MAX_ATTACHMENT_BYTES",
    "EmailParseError",
    "AuthResult",
    "ParsedAttachment",
    "ParsedEmail",
    "html_to_text",
    "parse_email",
    "safe_filename",
    "sanitize_html",
    "split_quoted",
    "token_from_message_id",
]

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
    reply_to_name, reply_to = _first_mailbox(headers.all("reply-to"))
    in_reply_to = _msgids(headers.all("in-reply-to"))
    references = _msgids(headers.all("references"))
    message_id = next(iter(_msgids(headers.all("message-id")[:1])), "")

    text = _message_text(walker)
    try:
        verdict = classify_message(
            message=message,
            headers=headers,
            walker=walker,
            subject=subject,
            from_name=from_name,
            from_address=from_address,
            in_reply_to=in_reply_to,
            references=references,
            text=text,
        )
    except Exception as exc:  # unreadable enough to break a rule: keep it, never answer it
        notes.add(f"could not classify ({type(exc).__name__}); treated as automatic mail")
        verdict = Verdict(is_bulk=True, machine_sender="unclassified", signals=("error",))
    is_bounce = verdict.is_bounce
    report_types = walker.report_types
    if not text.strip() and walker.embedded and not is_bounce and not report_types:
        text = _embedded_text(walker.embedded[0], notes, 0)
    html_source = walker.html_source()
    html = sanitize_html(html_source) if html_source else ""
    if len(html_source) > MAX_HTML_CHARS:
        notes.add(f"HTML body larger than {MAX_HTML_CHARS} characters; the rest was cut")
    if html_source.strip() and not html:
        notes.add("HTML body too complex to render safely; showing text only")
    if not text.strip() and not html.strip() and not walker.attachments:
        notes.add("no readable body text or attachments")

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
        reply_to_name=reply_to_name,
        to=_address_list(headers.all("to")),
        cc=_address_list(headers.all("cc")),
        date=_parse_date(headers.first("date"), notes),
        text=text,
        html=html,
        attachments=tuple(walker.attachments),
        is_auto_reply=verdict.is_auto_reply,
        is_bulk=verdict.is_bulk,
        is_bounce=is_bounce,
        bounced_message_ids=verdict.bounced_message_ids,
        bounce_recipients=verdict.bounce_recipients,
        ticket_token=_ticket_token(subject, in_reply_to, references),
        headers=kept,
        warnings=tuple(notes.items),
        quoted_text_start=_quote_start(text),
        forwarded_from=forwarded_from,
        bounce_status=verdict.bounce_status,
        ignore_reason=verdict.ignore_reason,
        machine_sender=verdict.machine_sender,
        spam_reason=spam_verdict(headers),
        auth_results=parse_authentication_results(headers.all("authentication-results")),
        classified_by=verdict.signals,
    )

"""Provider payloads that are not raw MIME, turned back into MIME for the one email parser."""

from __future__ import annotations

import base64
import binascii
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formataddr
from typing import Any

# Rebuilt by the MIME library from the parts; copying the provider's values would contradict
# the body we actually assemble.
_STRUCTURAL = {"content-type", "content-transfer-encoding", "mime-version", "content-disposition"}
_ADDRESSING = {"from", "to", "cc", "subject", "date", "reply-to", "message-id"}


def _one_line(value: Any) -> str:
    return " ".join(str(value or "").split())


def _full(entries: Any, fallback: Any) -> str:
    """Postmark's `ToFull`-style lists as an address header; its plain string otherwise."""
    if isinstance(entries, list) and entries:
        return ", ".join(
            formataddr((_one_line(e.get("Name")), _one_line(e.get("Email"))))
            for e in entries
            if isinstance(e, dict) and e.get("Email")
        )
    if isinstance(entries, dict) and entries.get("Email"):
        return formataddr((_one_line(entries.get("Name")), _one_line(entries.get("Email"))))
    return _one_line(fallback)


def postmark_to_mime(payload: Any) -> bytes:
    """A Postmark inbound JSON payload as MIME bytes. Uses `RawEmail` when the server was set
    to include it; otherwise rebuilds headers, text, HTML and attachments from the fields."""
    if not isinstance(payload, dict):
        raise ValueError("the payload is not a JSON object")
    raw = payload.get("RawEmail")
    if isinstance(raw, str) and raw.strip():
        return raw.encode("utf-8", "surrogateescape")
    message = EmailMessage(policy=SMTP)
    extra: dict[str, str] = {}
    for header in payload.get("Headers") or []:
        if not isinstance(header, dict):
            continue
        name = _one_line(header.get("Name"))
        if name and name.lower() not in _STRUCTURAL and name.isascii() and ":" not in name:
            extra.setdefault(name.lower(), name)
            _set(message, name, _one_line(header.get("Value")))
    for name, value in (
        ("From", _full(payload.get("FromFull"), payload.get("From"))),
        ("To", _full(payload.get("ToFull"), payload.get("To"))),
        ("Cc", _full(payload.get("CcFull"), payload.get("Cc"))),
        ("Reply-To", _one_line(payload.get("ReplyTo"))),
        ("Subject", _one_line(payload.get("Subject"))),
        ("Date", _one_line(payload.get("Date"))),
    ):
        if value:
            del message[name]
            _set(message, name, value)
    if "message-id" not in extra and payload.get("MessageID"):
        _set(message, "Message-ID", f"<{_one_line(payload['MessageID'])}@inbound.postmarkapp.com>")
    text = str(payload.get("TextBody") or "")
    html = str(payload.get("HtmlBody") or "")
    message.set_content(text or " ")
    if html:
        message.add_alternative(html, subtype="html")
    for index, item in enumerate(payload.get("Attachments") or [], start=1):
        if not isinstance(item, dict):
            continue
        try:
            data = base64.b64decode(str(item.get("Content") or ""), validate=False)
        except (binascii.Error, ValueError):
            continue
        maintype, _, subtype = str(item.get("ContentType") or "application/octet-stream").partition(
            "/"
        )
        if not maintype.isascii() or not subtype:
            maintype, subtype = "application", "octet-stream"
        cid = _one_line(item.get("ContentID"))
        message.add_attachment(
            data,
            maintype=maintype,
            subtype=subtype.split(";")[0],
            filename=_one_line(item.get("Name")) or f"attachment-{index}",
            disposition="inline" if cid else "attachment",
            cid=f"<{cid.strip('<>')}>" if cid else None,
        )
    return message.as_bytes()


def _set(message: EmailMessage, name: str, value: str) -> None:
    try:
        message[name] = value
    except (ValueError, TypeError, IndexError):
        # a header the strict policy cannot fold: keep it as an unstructured note instead
        try:
            message["X-Postmark-Unparsed-" + name] = value.encode("ascii", "replace").decode()
        except (ValueError, TypeError, IndexError):
            return

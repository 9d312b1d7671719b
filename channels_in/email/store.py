"""Storing raw email, shared by IMAP, the SMTP listener and provider webhooks.

Every raw message is keyed by its Message-ID (or the SHA-256 of its bytes when it has none), so
the same message delivered twice — an IMAP re-poll, a UIDVALIDITY rescan, a provider retry —
is stored once. Different bytes under a known Message-ID (a relay copy, or a sender that reuses
ids) are kept under a second key and recognised as a duplicate when threaded: nothing dropped.
"""

from __future__ import annotations

import hashlib
import re

from django.db import transaction
from django.utils import timezone

from ..models import ChannelAccount, InboundMessage
from ..services import Stored, inbound_store

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_MSGID = re.compile(rb"<([^<>\s]{1,900})>")


def header_block(raw: bytes) -> bytes:
    """The raw header section (without the blank line), bounded for hostile input."""
    match = _HEADER_END.search(raw, 0, 2 * 1024 * 1024)
    return raw[: match.start()] if match else raw[: 2 * 1024 * 1024]


def header_values(raw: bytes, name: str) -> list[str]:
    """Unfolded values of one header field, straight from the bytes (no MIME parse)."""
    pattern = re.compile(
        rb"^" + re.escape(name.encode()) + rb"[ \t]*:(.*(?:\r?\n[ \t].*)*)",
        re.IGNORECASE | re.MULTILINE,
    )
    return [
        " ".join(m.group(1).decode("utf-8", "replace").split())
        for m in pattern.finditer(header_block(raw))
    ]


def message_id_of(raw: bytes) -> str:
    """The `<id>` of the Message-ID header, or '' when it has none usable."""
    pattern = re.compile(rb"^Message-ID[ \t]*:(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)
    match = pattern.search(header_block(raw))
    if match is None:
        return ""
    found = _MSGID.search(match.group(1))
    if found is None:
        return ""
    return "<" + found.group(1).decode("utf-8", "replace") + ">"


def external_id_for(raw: bytes) -> str:
    return message_id_of(raw) or "sha256:" + hashlib.sha256(raw).hexdigest()


def store_email(
    *,
    account: ChannelAccount,
    raw: bytes,
    external_id: str = "",
    content_type: str = "message/rfc822",
    process: bool = True,
) -> Stored:
    """Commit one raw message (see the module docstring for the dedupe rule). Returns once
    durable: the caller may then acknowledge its source."""
    key = external_id or external_id_for(raw)
    stored = inbound_store(
        account=account, external_id=key, raw=raw, content_type=content_type, process=process
    )
    if stored.created:
        return stored
    digest = hashlib.sha256(raw).hexdigest()
    if stored.inbound.raw_sha256 == digest or key.startswith("sha256:"):
        return stored
    return inbound_store(
        account=account,
        external_id=f"{key[:420]} sha256:{digest}",
        raw=raw,
        content_type=content_type,
        process=process,
    )


def store_failed(
    *,
    account: ChannelAccount,
    external_id: str,
    raw: bytes,
    reason: str,
    content_type: str = "message/rfc822",
) -> InboundMessage:
    """Record a message we could not take whole (over the size limit, undownloadable): what we
    have of it, as failed with its reason, so it is visible and never blocks the mailbox."""
    with transaction.atomic():
        stored = inbound_store(
            account=account,
            external_id=external_id,
            raw=raw,
            content_type=content_type,
            process=False,
        )
        inbound = stored.inbound
        if stored.created:
            inbound.status = InboundMessage.Status.FAILED
            inbound.reason = reason[:2000]
            inbound.processed_at = timezone.now()
            inbound.save(update_fields=["status", "reason", "processed_at"])
    return inbound

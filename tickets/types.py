"""Plain data crossing from the edges into the core."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class IncomingAttachment:
    filename: str
    content_type: str
    payload: bytes
    content_id: str = ""
    inline: bool = False


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """A normalised inbound message, whatever the channel.

    `thread_refs` are external ids of earlier messages this one answers (email References,
    a provider's reply-to id); `reply_token` is the ticket's token when the message carries
    one; `continue_open_ticket` lets chat/messaging/phone messages join the contact's open
    conversation, which is how one problem stays one thread across channels.
    """

    channel: str
    identity_kind: str
    identity_value: str
    sender_name: str = ""
    subject: str = ""
    text: str = ""
    html: str = ""
    channel_account_id: int | None = None
    external_id: str = ""
    received_at: datetime | None = None
    thread_refs: tuple[str, ...] = ()
    reply_token: str = ""
    continue_open_ticket: bool = False
    target_ticket_id: int | None = None
    attachments: tuple[IncomingAttachment, ...] = ()
    is_automatic: bool = False
    group_id: int | None = None
    recipients: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class IngestResult:
    ticket_id: int
    ticket_number: int
    message_id: int
    created_ticket: bool
    duplicate: bool
    flagged: str = ""

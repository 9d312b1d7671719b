"""An SMTP/LMTP server so a mail server can deliver straight into the desk.

RCPT TO picks the email account (its address or a routed alias, case-insensitive, `+tag`
ignored); unknown recipients get 550. DATA is stored raw through the shared store in a worker
thread, and 250 is answered only after the row is committed; a database problem answers 451 so
the sending server keeps the message and tries again. Messages over the size limit are refused
by the protocol layer (552) before they are buffered whole.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import Error as DatabaseError
from django.db import close_old_connections, connections

from ..models import ChannelAccount, ChannelKind
from .adapter import account_config
from .store import store_email

log = logging.getLogger(__name__)


def account_for_address(address: str) -> ChannelAccount | None:
    """The active email account that receives mail for this address."""
    wanted = address.strip().strip("<>").lower()
    if "@" not in wanted:
        return None
    close_old_connections()
    for account in ChannelAccount.objects.filter(kind=ChannelKind.EMAIL, active=True):
        config = account_config(account)
        if config is not None and config.receives(wanted):
            return account
        if config is None and (account.address or "").lower() == wanted:
            return account
    return None


def _delivery_headers(envelope: Envelope, peer: str) -> bytes:
    """What a delivering MTA adds (RFC 5321 4.4, like Dovecot's LMTP): the envelope sender and
    the recipients, which routing rules may need when the To header does not name us."""
    lines = [f"Return-Path: <{envelope.mail_from or ''}>"]
    lines += [f"Delivered-To: {rcpt}" for rcpt in envelope.rcpt_tos]
    lines.append(f"X-Helpdesk-Received-From: {peer}")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8", "replace")


def _store(account_id: int, raw: bytes) -> int:
    close_old_connections()
    account = ChannelAccount.objects.get(pk=account_id)
    return store_email(account=account, raw=raw).inbound.pk


class InboundHandler:
    def __init__(self, *, lmtp: bool = False) -> None:
        self.lmtp = lmtp

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        try:
            account = await sync_to_async(account_for_address)(address)
        except DatabaseError:
            log.exception("recipient lookup failed")
            return "451 4.3.0 Temporary failure, please try again later"
        if account is None:
            return f"550 5.1.1 <{address}>: no such mailbox here"
        accounts: dict[str, int] = getattr(envelope, "helpdesk_accounts", {})
        accounts[address] = account.pk
        envelope.helpdesk_accounts = accounts  # type: ignore[attr-defined]
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        accounts: dict[str, int] = getattr(envelope, "helpdesk_accounts", {})
        # One copy per message: the first recipient's account owns it; the Delivered-To lines
        # let routing rules see every recipient (two copies would make two tickets).
        account_id = accounts[envelope.rcpt_tos[0]]
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        content = envelope.original_content or envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode("utf-8", "replace")
        try:
            inbound_id = await sync_to_async(_store)(
                account_id, _delivery_headers(envelope, peer) + raw
            )
        except DatabaseError:
            log.exception("storing inbound mail failed")
            reply = "451 4.3.0 Temporary failure storing the message, please try again later"
        else:
            reply = f"250 2.0.0 OK: stored as inbound #{inbound_id}"
        if self.lmtp:  # LMTP answers once per accepted recipient
            return "\r\n".join([reply] * len(envelope.rcpt_tos))
        return reply


class InboundController(Controller):
    def __init__(
        self,
        *,
        hostname: str,
        port: int,
        lmtp: bool = False,
        max_bytes: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.lmtp = lmtp
        super().__init__(
            InboundHandler(lmtp=lmtp),
            hostname=hostname,
            port=port,
            data_size_limit=max_bytes or settings.HELPDESK_MAX_INBOUND_BYTES,
            decode_data=False,
            **kwargs,
        )

    def stop(self, no_assert: bool = False) -> None:
        # Database connections live in asgiref's worker thread: close them there, or the
        # database keeps a session per stopped listener.
        if self.loop.is_running():
            closing = asyncio.run_coroutine_threadsafe(
                sync_to_async(connections.close_all)(), self.loop
            )
            closing.result(timeout=10)
        super().stop(no_assert)

    def factory(self) -> SMTP:
        server_class = _LMTP if self.lmtp else _SMTP
        return server_class(self.handler, **self.SMTP_kwargs)


class _SMTP(SMTP):
    # RFC 5321 says 1000, but real senders exceed it and real MTAs (Postfix) accept them:
    # refusing would bounce a customer's mail over a formatting detail.
    line_length_limit = 64 * 1024


class _LMTP(LMTP):
    line_length_limit = 64 * 1024


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on (aiosmtpd 1.4.6's Controller cannot take port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])

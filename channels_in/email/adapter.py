"""Email in and out: raw RFC 5322 bytes to an IncomingMessage, and replies to real mail.

Importing this module registers the email normaliser, deliverer and post-ingest step, and the
email Celery tasks (the app's `ready()` imports it).
"""

from __future__ import annotations

import json
import re
import smtplib
from functools import lru_cache
from typing import Any

from anymail.exceptions import AnymailAPIError, AnymailError, AnymailRecipientsRefused
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db import transaction
from django.db.models import Q
from django.utils.html import escape, linebreaks

from tickets import services as ticket_services
from tickets.models import Identity, Message
from tickets.roles import Role
from tickets.types import IncomingAttachment, IncomingMessage, IngestResult

from ..errors import DeliveryError, Ignored, Rejected
from ..models import ChannelAccount, ChannelKind, InboundMessage, OutboundDelivery
from ..services import (
    Guarantee,
    delivery_update_status,
    register_deliverer,
    register_normaliser,
    register_post_ingest,
)
from . import tasks  # noqa: F401  (registers the email tasks with Celery)
from .config import ESP_BACKENDS, ConfigError, EmailAccountConfig, parse_email_config, secret
from .parser import EmailParseError, ParsedEmail, parse_email
from .providers import postmark_to_mime
from .store import header_values

_TOKEN_IN_SUBJECT = re.compile(r"\s*\[ref:[A-Za-z0-9_-]{16}\]")
_DSN_ACTION = re.compile(rb"^Action[ \t]*:[ \t]*([A-Za-z]+)", re.IGNORECASE | re.MULTILINE)


@lru_cache(maxsize=256)
def _config(config_json: str, address: str) -> EmailAccountConfig | None:
    try:
        return parse_email_config(json.loads(config_json), address=address)
    except ConfigError:
        return None


def account_config(account: ChannelAccount) -> EmailAccountConfig | None:
    """The account's config, parsed once per distinct value (ingest runs this per message);
    None when it is invalid (the accounts page shows why)."""
    return _config(json.dumps(account.config, sort_keys=True), account.address or "")


def _raw_email(inbound: InboundMessage) -> bytes:
    raw = bytes(inbound.raw)
    if not inbound.content_type.startswith("application/json"):
        return raw
    if "provider=postmark" not in inbound.content_type:
        raise Rejected(f"no reader for {inbound.content_type} payloads")
    # Postmark posts JSON; rebuild the MIME message it describes, so one parser serves all.
    try:
        return postmark_to_mime(json.loads(raw))
    except (ValueError, TypeError) as exc:
        raise Rejected(f"unreadable provider payload: {exc}") from exc


@register_normaliser(ChannelKind.EMAIL)
def normalise_email(inbound: InboundMessage) -> IncomingMessage:
    raw = _raw_email(inbound)
    try:
        parsed = parse_email(raw, max_attachment_bytes=settings.HELPDESK_MAX_ATTACHMENT_BYTES)
    except EmailParseError as exc:
        raise Rejected(f"unreadable email: {exc}") from exc
    if parsed.is_bounce:
        raise Ignored("delivery report", effect=lambda: _handle_bounce(parsed, raw, inbound))
    sender = parsed.from_address or parsed.reply_to
    if not sender:
        raise Rejected("no sender address (From and Reply-To missing or unparseable)")
    refs = tuple(dict.fromkeys((*parsed.references, *parsed.in_reply_to)))
    automatic = parsed.is_auto_reply or parsed.is_bulk
    if parsed.is_auto_reply and not refs and not parsed.ticket_token:
        raise Ignored("auto-reply that answers no ticket: not threaded, never answered")
    attachments = tuple(
        IncomingAttachment(
            filename=a.filename,
            content_type=a.content_type,
            payload=a.payload,
            content_id=a.content_id,
            inline=a.inline,
        )
        for a in parsed.attachments
        if not a.oversized
    )
    oversized = [a.filename for a in parsed.attachments if a.oversized]
    text = parsed.text
    if oversized:
        text += "\n\n[Attachments over the size limit were not kept: " + ", ".join(oversized) + "]"
    sender_name = parsed.from_name
    identity_value = sender
    metadata: dict[str, object] = {"warnings": list(parsed.warnings)}
    if parsed.quoted_text_start is not None:
        metadata["quoted_text_start"] = parsed.quoted_text_start
    if parsed.forwarded_from and not refs:
        if is_agent_address(sender):
            # An agent forwarded a customer's mail in: the ticket belongs to the original sender.
            sender_name, identity_value = parsed.forwarded_from
            metadata["forwarded_by"] = sender
        else:
            # Anyone else who forwards mail is the one asking: a "Fwd:" must not let a sender
            # open a ticket in another person's name (replies would go to that person).
            metadata["forwarded_from"] = parsed.forwarded_from[1]
    account = inbound.account
    own = (account.address or "").lower()
    delivered_to = tuple(v.strip().strip("<>").lower() for v in header_values(raw, "Delivered-To"))
    config = account_config(account)
    routed = config.group_for((*delivered_to, *parsed.to, *parsed.cc)) if config else None
    return IncomingMessage(
        channel=ChannelKind.EMAIL,
        identity_kind=Identity.Kind.EMAIL,
        identity_value=identity_value,
        sender_name=sender_name,
        subject=_TOKEN_IN_SUBJECT.sub("", parsed.subject).strip(),
        text=text,
        html=parsed.html,
        channel_account_id=inbound.account_id,
        external_id=parsed.message_id or inbound.external_id,
        received_at=inbound.received_at,
        thread_refs=refs,
        reply_token=parsed.ticket_token,
        attachments=attachments,
        is_automatic=automatic,
        group_id=routed or account.group_id,
        recipients=parsed.to,
        # our own addresses are never participants (that would CC the desk on its replies)
        cc=tuple(a for a in parsed.cc if a != own and not (config and config.receives(a))),
        metadata=metadata,
    )


def is_agent_address(address: str) -> bool:
    """Whether `address` is the email of an active agent (any desk role). Only an agent's
    forward is read as "this customer wrote to me": the rule that keeps a customer's own
    forward, or a stranger's, from opening a ticket in someone else's name."""
    if not address:
        return False
    users = get_user_model().objects.filter(email__iexact=address, is_active=True)
    return users.filter(
        Q(is_superuser=True) | Q(groups__name__in=[role.value for role in Role])
    ).exists()


def _handle_bounce(parsed: ParsedEmail, raw: bytes, inbound: InboundMessage) -> str:
    """Attach a delivery report to the outbound message it answers; returns the reason the
    report is stored for."""
    actions = {a.decode().lower() for a in _DSN_ACTION.findall(raw)}
    failed = not actions or bool(actions & {"failed"})
    who = ", ".join(parsed.bounce_recipients) or parsed.subject
    for message_id in parsed.bounced_message_ids:
        deliveries = OutboundDelivery.objects.filter(provider_id=message_id).select_related(
            "message"
        )
        delivery = deliveries.first()
        if delivery is None:
            continue
        where = f"our message {message_id} on ticket id {delivery.message.ticket_id}"
        if failed:
            delivery_update_status(
                provider_id=message_id,
                status=OutboundDelivery.Status.FAILED,
                detail=f"bounced: {who} (report stored as inbound #{inbound.pk})",
            )
            return f"bounce for {where}: delivery marked failed"
        if actions & {"delivered", "relayed", "expanded"}:
            delivery_update_status(provider_id=message_id, status=OutboundDelivery.Status.DELIVERED)
            return f"delivery report for {where}: delivered"
        ticket_services.delivery_record_event(
            ticket_id=delivery.message.ticket_id,
            message_id=delivery.message_id,
            status="delayed",
            detail=f"delayed: {who} (the server keeps trying)",
        )
        return f"delay report for {where}: still being tried"
    return "bounce or delivery report matching none of our messages"


@register_post_ingest(ChannelKind.EMAIL)
def after_email_ingest(
    inbound: InboundMessage, incoming: IncomingMessage, result: IngestResult
) -> None:
    """Inside the ingest transaction: link inline images, then queue the acknowledgement."""
    if "cid:" in incoming.html and any(a.content_id for a in incoming.attachments):
        message = Message.objects.get(pk=result.message_id)
        ticket_services.message_link_inline_images(message=message)
    if not result.created_ticket or incoming.is_automatic or result.flagged:
        return
    config = account_config(inbound.account)
    if config is None or not config.ack_enabled:
        return
    from .tasks import send_acknowledgement

    ticket_id, message_id = result.ticket_id, result.message_id
    transaction.on_commit(lambda: send_acknowledgement.delay(ticket_id, message_id), robust=True)


# --- sending ---------------------------------------------------------------------------------


def _thread_headers(message: Message) -> tuple[str, list[str]]:
    """In-Reply-To and References for a reply: the ticket's email ids, newest last."""
    ids = list(
        Message.objects.filter(ticket_id=message.ticket_id, created_at__lte=message.created_at)
        .exclude(pk=message.pk)
        .exclude(external_id="")
        .filter(kind__in=[Message.Kind.CUSTOMER, Message.Kind.REPLY], channel=ChannelKind.EMAIL)
        .order_by("created_at", "id")
        .values_list("external_id", flat=True)
    )
    ids = [i for i in ids if i.startswith("<")][-20:]
    return (ids[-1] if ids else ""), ids


def connection_for(account: ChannelAccount | None) -> BaseEmailBackend:
    """The account's own SMTP server or ESP; the site's default mail backend otherwise."""
    if account is None:
        return get_connection(fail_silently=False)
    try:
        config = parse_email_config(account.config, address=account.address)
        if config.smtp is not None:
            smtp = config.smtp
            return get_connection(
                "django.core.mail.backends.smtp.EmailBackend",
                fail_silently=False,
                host=smtp.host,
                port=smtp.port,
                username=smtp.username or None,
                password=smtp.password() or None,
                use_tls=smtp.starttls,
                use_ssl=smtp.ssl,
                timeout=smtp.timeout,
            )
        if config.esp:
            extra: dict[str, Any] = {}
            if config.esp_api_key_env:
                extra["api_key"] = secret(config.esp_api_key_env, "esp_api_key_env")
            return get_connection(ESP_BACKENDS[config.esp], fail_silently=False, **extra)
    except ConfigError as exc:
        raise DeliveryError(f"email account {account.name!r}: {exc}", permanent=True) from exc
    return get_connection(fail_silently=False)


def _subject(message: Message) -> str:
    ticket = message.ticket
    if message.kind == Message.Kind.SYSTEM and message.subject:
        subject = message.subject
    elif ticket.subject.lower().startswith("re:"):
        subject = ticket.subject
    else:
        subject = f"Re: {ticket.subject}"
    return f"{subject} [ref:{ticket.reply_token}]"


# at least once: a copy after a crash carries the same Message-ID (see `Guarantee`)
@register_deliverer(ChannelKind.EMAIL, guarantee=Guarantee.AT_LEAST_ONCE)
def send_email(delivery: OutboundDelivery) -> str:
    message = delivery.message
    account = delivery.account
    from_address = account.address if account and account.address else settings.DEFAULT_FROM_EMAIL
    agent = message.author_user
    agent_name = ""
    signature = ""
    if agent is not None:
        profile = getattr(agent, "agent_profile", None)
        agent_name = (profile.display_name if profile else "") or agent.get_full_name()
        signature = profile.signature if profile else ""
    in_reply_to, references = _thread_headers(message)
    body = message.text + (f"\n\n-- \n{signature}" if signature else "")
    headers = {"Message-ID": message.external_id}
    if in_reply_to:
        headers["In-Reply-To"] = in_reply_to
        headers["References"] = " ".join(references)
    if message.is_automatic or message.kind == Message.Kind.SYSTEM:
        # RFC 3834: other robots must not answer us; Exchange: no out-of-office replies.
        headers["Auto-Submitted"] = str(message.metadata.get("auto_submitted") or "auto-generated")
        headers["X-Auto-Response-Suppress"] = "All"
    mail = EmailMultiAlternatives(
        subject=_subject(message),
        body=body,
        from_email=formataddr_safe(agent_name or "Support", from_address),
        to=[delivery.recipient],
        cc=[a for a in delivery.cc if a.lower() != delivery.recipient.lower()],
        headers=headers,
        reply_to=[from_address],
    )
    mail.attach_alternative(message.html or linebreaks(escape(body)), "text/html")
    for attachment in message.attachments.all():
        with attachment.file.open("rb") as fh:
            mail.attach(attachment.filename, fh.read(), attachment.content_type)
    try:
        connection_for(account).send_messages([mail])
    # anymail's API errors are requests errors, which are OSErrors: sort them out first
    except AnymailRecipientsRefused as exc:
        raise DeliveryError(f"{exc}", permanent=True) from exc
    except AnymailAPIError as exc:
        status = exc.status_code or 0
        raise DeliveryError(f"{exc}", permanent=400 <= status < 500 and status != 429) from exc
    except AnymailError as exc:  # misconfiguration (no API key, unsupported feature)
        raise DeliveryError(f"{exc}", permanent=True) from exc
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError(
            f"SMTP refused the recipients: {exc.recipients}", permanent=True
        ) from exc
    except smtplib.SMTPResponseException as exc:
        text = f"SMTP {exc.smtp_code}: {smtp_error_text(exc)}"
        raise DeliveryError(text, permanent=500 <= exc.smtp_code < 600) from exc
    except OSError as exc:  # connection refused, timeouts, TLS trouble: try again later
        raise DeliveryError(f"SMTP: {exc}") from exc
    return message.external_id


def formataddr_safe(name: str, address: str) -> str:
    from email.utils import formataddr

    # a display name is free text from a profile: never let it break the header
    return formataddr((" ".join(name.split()), address))


def smtp_error_text(exc: smtplib.SMTPResponseException) -> str:
    detail = exc.smtp_error
    return detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)

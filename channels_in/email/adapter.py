"""Email in and out: raw RFC 5322 bytes to an IncomingMessage, and replies to real mail.

Importing this module registers the email normaliser, deliverer and post-ingest step, and the
email Celery tasks (the app's `ready()` imports it).
"""

from __future__ import annotations

import json
import re
import smtplib
from datetime import timedelta
from functools import lru_cache
from typing import Any

from anymail.exceptions import AnymailAPIError, AnymailError, AnymailRecipientsRefused
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
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
from .parser import EmailParseError, ParsedEmail, parse_email, token_from_message_id
from .parser.addresses import same_person
from .parser.auth import aligned_pass
from .parser.classify import machine_local_part
from .providers import postmark_to_mime
from .store import header_values

_TOKEN_IN_SUBJECT = re.compile(r"\s*\[ref:[A-Za-z0-9_-]{16}\]")


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
        raise Ignored("delivery report", effect=lambda: _handle_bounce(parsed, inbound))
    if parsed.ignore_reason:
        # Reports and list servers' notices are for no one to answer: kept, never a ticket.
        raise Ignored(f"machine mail, not answered: {parsed.ignore_reason}")
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
    account = inbound.account
    config = account_config(account)
    metadata: dict[str, object] = {"warnings": list(parsed.warnings)}
    metadata.update(_trust(parsed, config))
    if parsed.quoted_text_start is not None:
        metadata["quoted_text_start"] = parsed.quoted_text_start
    reply_to = _reply_address(parsed, account, config)
    if reply_to:
        metadata["reply_to"] = reply_to
        metadata["reply_to_same_person"] = same_person(
            from_name=parsed.from_name,
            from_address=parsed.from_address,
            reply_name=parsed.reply_to_name,
            reply_address=reply_to,
        )
    if parsed.forwarded_from and not refs:
        if is_agent_address(sender):
            # An agent forwarded a customer's mail in: the ticket belongs to the original sender.
            sender_name, identity_value = parsed.forwarded_from
            metadata["forwarded_by"] = sender
        else:
            # Anyone else who forwards mail is the one asking: a "Fwd:" must not let a sender
            # open a ticket in another person's name (replies would go to that person).
            metadata["forwarded_from"] = parsed.forwarded_from[1]
    own = (account.address or "").lower()
    delivered_to = tuple(v.strip().strip("<>").lower() for v in header_values(raw, "Delivered-To"))
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


def _reply_address(
    parsed: ParsedEmail, account: ChannelAccount, config: EmailAccountConfig | None
) -> str:
    """The Reply-To our answers should go to, when it is not the From address itself, not one
    of our own addresses (a loop) and not an address nobody reads (no-reply and the like)."""
    address = parsed.reply_to
    if not address or not parsed.from_address or address == parsed.from_address:
        return ""
    if address == (account.address or "").lower() or (config and config.receives(address)):
        return ""
    if machine_local_part(address.split("@", 1)[0]):
        return ""
    if address.rsplit("@", 1)[-1] == settings.HELPDESK_EMAIL_DOMAIN.lower():
        return ""
    if ChannelAccount.objects.filter(address__iexact=address).exists():
        return ""  # another of our mailboxes: answering there would loop
    return address


def _trust(parsed: ParsedEmail, config: EmailAccountConfig | None) -> dict[str, str]:
    """What the acknowledgement rules need to know about the sender, kept on the message:
    an aligned authentication pass by a trusted server, a spam verdict, a machine sender."""
    facts: dict[str, str] = {}
    domain = parsed.from_address.rsplit("@", 1)[-1] if "@" in parsed.from_address else ""
    passed = aligned_pass(
        parsed.auth_results,
        from_domain=domain,
        trusted_ids=config.trusted_authserv_ids if config else (),
    )
    if passed:
        facts["authenticated"] = passed
    if parsed.spam_reason:
        facts["spam"] = parsed.spam_reason
    if parsed.machine_sender:
        facts["machine_sender"] = parsed.machine_sender
    return facts


# how far back a bounce naming only a recipient may match one of our deliveries to them
_RECIPIENT_MATCH_WINDOW = timedelta(days=14)


def _bounced_delivery(parsed: ParsedEmail) -> OutboundDelivery | None:
    """Our delivery a report is about: by the Message-ID it quotes (the DSN's enclosed
    original, In-Reply-To/References), then by our ticket token in a quoted id together with
    a failed recipient, then (only when it quotes no id at all) by a failed recipient we
    mailed in the last two weeks."""
    email = OutboundDelivery.objects.filter(channel=ChannelKind.EMAIL).select_related("message")
    ids = list(parsed.bounced_message_ids)
    if ids:
        by_id = email.filter(provider_id__in=ids).order_by("-created_at").first()
        if by_id is not None:
            return by_id
    recipients = list(parsed.bounce_recipients)
    if not recipients:
        return None
    tokens = [token for token in map(token_from_message_id, ids) if token]
    if tokens:
        by_token = (
            email.filter(message__ticket__reply_token__in=tokens, recipient__in=recipients)
            .order_by("-created_at")
            .first()
        )
        if by_token is not None:
            return by_token
    if ids:
        # It quotes a message that is not ours (backscatter of mail forged in our name):
        # that our last mail to the same person failed does not follow.
        return None
    return (
        email.filter(
            recipient__in=recipients,
            status__in=[OutboundDelivery.Status.SENT, OutboundDelivery.Status.DELIVERED],
            created_at__gte=timezone.now() - _RECIPIENT_MATCH_WINDOW,
        )
        .order_by("-created_at")
        .first()
    )


def _handle_bounce(parsed: ParsedEmail, inbound: InboundMessage) -> str:
    """Attach a delivery report to the outbound message it answers; returns the reason the
    report is stored for."""
    who = ", ".join(parsed.bounce_recipients) or parsed.subject
    delivery = _bounced_delivery(parsed)
    if delivery is None:
        return "bounce or delivery report matching none of our messages"
    message_id = delivery.provider_id
    where = f"our message {message_id} on ticket id {delivery.message.ticket_id}"
    status = parsed.bounce_status or "failed"
    if status == "failed":
        delivery_update_status(
            provider_id=message_id,
            status=OutboundDelivery.Status.FAILED,
            detail=f"bounced: {who} (report stored as inbound #{inbound.pk})",
        )
        return f"bounce for {where}: delivery marked failed"
    if status == "delivered":
        delivery_update_status(provider_id=message_id, status=OutboundDelivery.Status.DELIVERED)
        return f"delivery report for {where}: delivered"
    ticket_services.delivery_record_event(
        ticket_id=delivery.message.ticket_id,
        message_id=delivery.message_id,
        status="delayed",
        detail=f"delayed: {who} (the server keeps trying)",
    )
    return f"delay report for {where}: still being tried"


@register_post_ingest(ChannelKind.EMAIL)
def after_email_ingest(
    inbound: InboundMessage, incoming: IncomingMessage, result: IngestResult
) -> None:
    """Inside the ingest transaction: link inline images, record the Reply-To as a party to
    the ticket, then queue the acknowledgement."""
    if "cid:" in incoming.html and any(a.content_id for a in incoming.attachments):
        message = Message.objects.get(pk=result.message_id)
        ticket_services.message_link_inline_images(message=message)
    reply_to = incoming.metadata.get("reply_to")
    if reply_to and not result.flagged:
        message = Message.objects.select_related("ticket", "author_contact").get(
            pk=result.message_id
        )
        if message.author_contact is not None:
            ticket_services.ticket_add_reply_address(
                ticket=message.ticket,
                author=message.author_contact,
                address=str(reply_to),
                same_person=bool(incoming.metadata.get("reply_to_same_person")),
            )
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

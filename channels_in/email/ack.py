"""The acknowledgement of a new ticket: once per ticket, never to a machine, never in a loop.

Rules (each checked again in the task, from the stored rows, not from what was queued):
- only when the account has `ack_enabled`, for the first customer message of a new ticket;
- never to an auto-reply, a bounce, bulk or mailing-list mail (the message is `is_automatic`),
  a flagged message, mail an agent forwarded in, machine senders (the local-part families of
  `parser.classify.machine_local_part`: mailer-daemon, postmaster/post_master, list servers,
  bounce, no-reply...), or our own addresses (two desks answering each other);
- never to spam (an upstream filter's verdict: `X-Spam-Flag: YES`, `X-Spam-Status: Yes`, a
  score over the threshold...): answering forged senders is backscatter;
- with `ack_requires_auth` (the default), only to a sender who passed authentication (an
  aligned pass from a trusted authserv-id, see `parser.auth`) or is a known contact: one with a
  portal login, a verified identity, or an agent's answer on an earlier ticket;
- at most `ack_rate_limit_per_hour` automatic mails per recipient per hour, counted in the
  database under an advisory lock per recipient so concurrent workers cannot overshoot;
- the idempotency key `auto-ack-<ticket>` makes a retried task send nothing twice.
The mail carries `Auto-Submitted: auto-replied` and `X-Auto-Response-Suppress: All` (the
deliverer adds them to every automatic message).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from tickets import services as ticket_services
from tickets.models import Message, Ticket

from ..models import ChannelAccount, ChannelKind, OutboundDelivery
from ..receivers import email_message_id
from .config import ConfigError, EmailAccountConfig, load_email_config
from .parser.classify import machine_local_part

AUTOMATIC_KEY_PREFIX = "auto-"


def automatic_mail_allowed(*, recipient: str, per_hour: int) -> bool:
    """Whether another automatic mail may go to this recipient now. Call inside a transaction:
    it takes the recipient's advisory lock until commit."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ["auto-mail:" + recipient])
    since = timezone.now() - timedelta(hours=1)
    sent = OutboundDelivery.objects.filter(
        recipient=recipient,
        idempotency_key__startswith=AUTOMATIC_KEY_PREFIX,
        created_at__gte=since,
    ).count()
    return sent < per_hour


def _own_addresses() -> set[str]:
    own = {
        a.lower()
        for a in ChannelAccount.objects.exclude(address="").values_list("address", flat=True)
    }
    own.add(settings.DEFAULT_FROM_EMAIL.lower())
    return own


def _why_not(message: Message, config: EmailAccountConfig) -> str:
    recipient = message.sender.lower()
    if not config.ack_enabled:
        return "acknowledgements are off for this account"
    if message.kind != Message.Kind.CUSTOMER:
        return "not a customer message"
    if message.is_automatic:
        return "automatic mail (auto-reply, bounce, bulk or mailing list) is never answered"
    if message.flag:
        return "flagged message"
    if message.metadata.get("forwarded_by"):
        return "forwarded in by an agent"
    if "@" not in recipient:
        return "no address"
    family = machine_local_part(recipient.split("@", 1)[0]) or message.metadata.get(
        "machine_sender", ""
    )
    if family:
        return f"{recipient} does not read replies ({family} address)"
    domain = recipient.rsplit("@", 1)[1]
    if recipient in _own_addresses() or domain == settings.HELPDESK_EMAIL_DOMAIN.lower():
        return f"{recipient} is one of our own addresses (mail loop)"
    spam = message.metadata.get("spam")
    if spam:
        return f"marked as spam upstream ({spam}): never answered"
    if config.ack_requires_auth and not message.metadata.get("authenticated"):
        if not _known_contact(message):
            return (
                "sender not authenticated (no aligned DMARC/DKIM/SPF pass from a trusted "
                "server) and not a known contact"
            )
    return ""


def _known_contact(message: Message) -> bool:
    """Someone we have dealt with: a portal login, a verified identity, or an agent's answer
    on an earlier ticket of theirs. Mail that merely arrived before proves nothing."""
    contact = message.ticket.contact
    if contact.user_id is not None or contact.identities.filter(verified=True).exists():
        return True
    return (
        Message.objects.filter(ticket__contact=contact, kind=Message.Kind.REPLY)
        .exclude(ticket_id=message.ticket_id)
        .exists()
    )


def acknowledgement_send(*, ticket_id: int, message_id: int) -> str:
    """Record and queue the acknowledgement of a new ticket; returns what happened."""
    with transaction.atomic():
        message = (
            Message.objects.select_related("ticket__contact")
            .filter(pk=message_id, ticket_id=ticket_id)
            .first()
        )
        if message is None:
            return "skipped: message not found"
        ticket: Ticket = message.ticket
        account = (
            ChannelAccount.objects.filter(
                pk=message.channel_account_id, kind=ChannelKind.EMAIL, active=True
            ).first()
            if message.channel_account_id is not None
            else None
        )
        if account is None:
            return "skipped: no active email account"
        try:
            config = load_email_config(account)
        except ConfigError as exc:
            return f"skipped: {exc}"
        reason = _why_not(message, config)
        first = ticket.messages.order_by("created_at", "id").values_list("pk", flat=True).first()
        if not reason and first != message.pk:
            reason = "not the message that opened the ticket"
        if reason:
            return f"skipped: {reason}"
        recipient = message.sender.lower()
        key = f"{AUTOMATIC_KEY_PREFIX}ack-{ticket.pk}"
        if not automatic_mail_allowed(recipient=recipient, per_hour=config.ack_rate_limit_per_hour):
            return (
                f"skipped: {recipient} already got {config.ack_rate_limit_per_hour} automatic "
                "mails in the last hour"
            )
        if OutboundDelivery.objects.filter(idempotency_key=key).exists():
            return "skipped: already acknowledged"
        subject, text = config.render_ack(
            {
                "ticket": ticket,
                "name": ticket.contact.name or recipient,
                "contact": ticket.contact,
                "account": account,
            }
        )
        ack = ticket_services.ticket_auto_message(
            ticket=ticket,
            subject=subject,
            text=text,
            channel=ChannelKind.EMAIL,
            channel_account_id=account.pk,
            external_id=email_message_id(ticket.reply_token),
            metadata={"auto_submitted": "auto-replied", "purpose": "acknowledgement"},
        )
        delivery = OutboundDelivery.objects.create(
            message=ack,
            account=account,
            channel=ChannelKind.EMAIL,
            recipient=recipient,
            idempotency_key=key,
            provider_id=ack.external_id,
        )
        from ..tasks import deliver_outbound

        delivery_id = delivery.pk
        transaction.on_commit(lambda: deliver_outbound.delay(delivery_id))
    return f"queued acknowledgement to {recipient} (delivery #{delivery_id})"

"""Listen to the core's domain events and turn agent replies into deliveries."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import transaction
from django.dispatch import receiver

from tickets.events import reply_posted
from tickets.identities import equivalent_kinds
from tickets.models import Channel, Identity, Message, Participant

from .models import ChannelAccount, ChannelKind, OutboundDelivery

# which identity kinds can receive a reply on each channel, in order of preference
RECIPIENT_KINDS: dict[str, tuple[str, ...]] = {
    Channel.EMAIL: (Identity.Kind.EMAIL,),
    Channel.SMS: equivalent_kinds(Identity.Kind.PHONE),
    Channel.PHONE: (Identity.Kind.PHONE,),
    Channel.WHATSAPP: equivalent_kinds(Identity.Kind.WHATSAPP),
    Channel.TELEGRAM: (Identity.Kind.TELEGRAM,),
    Channel.MESSENGER: (Identity.Kind.MESSENGER,),
    Channel.CHAT: (Identity.Kind.CHAT,),
}


def email_message_id(token: str) -> str:
    """Our outbound Message-ID carries the ticket's reply token: `<hd.TOKEN.RANDOM@domain>`."""
    return f"<hd.{token}.{uuid.uuid4().hex[:16]}@{settings.HELPDESK_EMAIL_DOMAIN}>"


def account_for(channel: str, preferred_id: int | None) -> ChannelAccount | None:
    if preferred_id:
        account = ChannelAccount.objects.filter(pk=preferred_id, kind=channel, active=True).first()
        if account is not None:
            return account
    return ChannelAccount.objects.filter(kind=channel, active=True).order_by("id").first()


def reply_address(ticket: Any) -> str:
    """Where the requester asked to be answered: the Reply-To of their latest email on the
    ticket ("" when that mail named none, or they wrote by another channel since)."""
    latest = (
        Message.objects.filter(
            ticket_id=ticket.pk, kind=Message.Kind.CUSTOMER, author_contact_id=ticket.contact_id
        )
        .order_by("-created_at", "-id")
        .values_list("channel", "metadata")
        .first()
    )
    if latest is None or latest[0] != Channel.EMAIL or not isinstance(latest[1], dict):
        return ""
    return str(latest[1].get("reply_to") or "")


@receiver(reply_posted)
def record_delivery(sender: Any, message: Message, **kwargs: Any) -> None:
    """Runs inside the reply's transaction: the delivery row commits with the message."""
    ticket = message.ticket
    channel = message.channel
    if channel in (Channel.WEB, Channel.API):
        return  # read in the portal; nothing leaves
    account = account_for(channel, ticket.channel_account_id)
    kinds = RECIPIENT_KINDS.get(channel, ())
    identity = (
        Identity.objects.filter(contact_id=ticket.contact_id, kind__in=kinds)
        .order_by("-verified", "id")
        .first()
    )
    recipient = identity.value if identity else ""
    cc: list[str] = []
    if channel == ChannelKind.EMAIL:
        message.external_id = email_message_id(ticket.reply_token)
        recipient = reply_address(ticket) or recipient
        cc = list(
            Identity.objects.filter(
                kind=Identity.Kind.EMAIL,
                contact__in=Participant.objects.filter(ticket=ticket).values("contact"),
            ).values_list("value", flat=True)
        )
    if account is not None:
        message.channel_account_id = account.pk
    message.save(update_fields=["external_id", "channel_account_id"])
    delivery = OutboundDelivery.objects.create(
        message=message,
        account=account,
        channel=channel,
        recipient=recipient,
        cc=[address for address in cc if address != recipient],
        idempotency_key=f"msg-{message.pk}-{channel}",
        provider_id=message.external_id if channel == ChannelKind.EMAIL else "",
    )
    if not recipient or account is None:
        what = "no account" if account is None else f"no {channel} address for this contact"
        delivery.status = OutboundDelivery.Status.FAILED
        delivery.error = f"Cannot send by {channel}: {what}."
        delivery.save(update_fields=["status", "error"])
        return
    from .tasks import deliver_outbound

    delivery_id = delivery.pk
    transaction.on_commit(lambda: deliver_outbound.delay(delivery_id))

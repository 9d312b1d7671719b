"""Celery shells for the email channel. The schedule (every 60 s) is a django_celery_beat
PeriodicTask created by migration `channels_in.0003_poll_mailboxes_schedule`."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from tickets.queues import Queue

from ..models import ChannelAccount, ChannelKind
from ..tasks import TRANSIENT
from .config import ConfigError, load_email_config


@shared_task(route_to=Queue.INGEST, ignore_result=True)
def poll_mailboxes() -> int:
    """Fan out: one `poll_mailbox` per active email account that has IMAP settings."""
    queued = 0
    for account in ChannelAccount.objects.filter(kind=ChannelKind.EMAIL, active=True):
        try:
            config = load_email_config(account)
        except ConfigError:
            continue  # shown on the accounts page; polling it cannot work
        if config.imap is not None:
            # expires: a poll that waited a whole interval is replaced by the next beat's
            poll_mailbox.apply_async(args=[account.pk], expires=55)
            queued += 1
    return queued


@shared_task(
    bind=True,
    route_to=Queue.INGEST,
    acks_late=True,
    autoretry_for=TRANSIENT,
    retry_backoff=5,
    max_retries=3,
)
def poll_mailbox(self: Any, account_id: int) -> str:
    from .imap import mailbox_poll

    return str(mailbox_poll(account_id=account_id))


@shared_task(
    bind=True,
    route_to=Queue.DELIVER,
    acks_late=True,
    autoretry_for=TRANSIENT,
    retry_backoff=5,
    max_retries=5,
)
def send_acknowledgement(self: Any, ticket_id: int, message_id: int) -> str:
    from .ack import acknowledgement_send

    return acknowledgement_send(ticket_id=ticket_id, message_id=message_id)

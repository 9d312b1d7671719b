"""Thin Celery shells around the pipeline services.

Every countdown here stays below its queue's visibility timeout (`helpdesk.broker`): a
retry waiting out a longer one would be handed to a second worker and run twice."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import current_app, shared_task
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError
from kombu.exceptions import ChannelError

from tickets.queues import Queue

from . import recovery, services
from .errors import DeliveryError

TRANSIENT = (OperationalError, InterfaceError, DatabaseError)


@shared_task(
    bind=True,
    route_to=Queue.INGEST,
    acks_late=True,
    autoretry_for=TRANSIENT,
    retry_backoff=2,
    retry_backoff_max=120,
    max_retries=8,
)
def process_inbound(self: Any, inbound_id: int) -> str:
    inbound = services.inbound_process(inbound_id=inbound_id)
    return f"{inbound.status}: {inbound.reason}"


@shared_task(bind=True, route_to=Queue.DELIVER, acks_late=True, max_retries=6)
def deliver_outbound(self: Any, delivery_id: int) -> str:
    try:
        delivery = services.delivery_send(delivery_id=delivery_id)
    except (DeliveryError, *TRANSIENT) as exc:
        if self.request.retries >= self.max_retries:
            services.delivery_give_up(delivery_id=delivery_id, reason=str(exc))
            return f"failed: {exc}"
        countdown = min(int(settings.HELPDESK_DELIVERY_RETRY_MAX), 5 * 2**self.request.retries)
        raise self.retry(exc=exc, countdown=countdown) from exc
    return delivery.status


def waiting_in(queue: str) -> int:
    """How many messages wait in a broker queue (not those a worker holds)."""
    with current_app.connection_for_read() as conn:
        try:
            return int(conn.default_channel.queue_declare(queue=queue, passive=True).message_count)
        except ChannelError:  # the Redis transport has no such list: nothing waits
            return 0


@shared_task(route_to=Queue.INGEST, ignore_result=True)
def sweep_stuck(older_than: float | None = None) -> str:
    """Beat, every minute (migration `channels_in.0006_recovery`): re-queue what a dead worker
    left behind. `older_than` (seconds) overrides the settings' thresholds."""
    age = timedelta(seconds=older_than) if older_than is not None else None
    inbound = recovery.inbound_sweep(
        older_than=age,
        include_received=waiting_in(Queue.INGEST) == 0,
        requeue=process_inbound.delay,
    )
    deliveries = recovery.delivery_sweep(
        older_than=age,
        include_queued=waiting_in(Queue.DELIVER) == 0,
        requeue=deliver_outbound.delay,
    )
    return f"{inbound}; {deliveries}"

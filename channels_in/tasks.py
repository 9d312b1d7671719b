"""Thin Celery shells around the pipeline services."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import DatabaseError, InterfaceError, OperationalError

from helpdesk.queues import Queue

from . import services
from .errors import DeliveryError

TRANSIENT = (OperationalError, InterfaceError, DatabaseError)


@shared_task(
    bind=True,
    route_to=Queue.INGEST,
    acks_late=True,
    autoretry_for=TRANSIENT,
    retry_backoff=2,
    retry_backoff_max=300,
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
        raise self.retry(exc=exc, countdown=min(600, 5 * 2**self.request.retries)) from exc
    return delivery.status

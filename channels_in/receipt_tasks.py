"""The retry path of delivery receipts a webhook could not apply at once."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import DatabaseError, InterfaceError, OperationalError

from tickets.queues import Queue


@shared_task(
    bind=True,
    route_to=Queue.INGEST,
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError, DatabaseError),
    retry_backoff=2,
    retry_backoff_max=120,
    max_retries=8,
)
def apply_receipt(self: Any, inbound_id: int) -> str:
    from .webhooks import receipt_apply

    inbound = receipt_apply(inbound_id=inbound_id)
    return f"{inbound.status}: {inbound.reason}"

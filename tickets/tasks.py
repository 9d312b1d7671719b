"""Thin Celery shells around the SLA services, on the `sla` queue."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import DatabaseError, InterfaceError, OperationalError

from . import sla_services

SLA_QUEUE = "sla"  # helpdesk.queues.Queue.SLA: the core names its queue without importing helpdesk
TRANSIENT = (OperationalError, InterfaceError, DatabaseError)
_RETRY: dict[str, Any] = {
    "acks_late": True,
    "autoretry_for": TRANSIENT,
    "retry_backoff": 2,
    "retry_backoff_max": 120,
    "max_retries": 8,
}


@shared_task(route_to=SLA_QUEUE, **_RETRY)
def sla_recompute_ticket(ticket_id: int) -> str:
    outcome = sla_services.ticket_sla_recompute(ticket_id=ticket_id)
    return f"ticket {ticket_id}: {outcome.achieved} achieved, {outcome.breached} breached"


@shared_task(route_to=SLA_QUEUE, **_RETRY)
def sla_recompute_open() -> str:
    return f"{sla_services.sla_recompute_tickets(only_open=True)} tickets"


@shared_task(route_to=SLA_QUEUE, **_RETRY)
def sla_sweep() -> str:
    return f"{sla_services.sla_sweep()} breaches"

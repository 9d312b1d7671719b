"""Thin Celery shells of the core: search documents are rebuilt here, off the request path,
and SLA due times replayed and breaches swept on the `sla` queue."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import DatabaseError, InterfaceError, OperationalError

from tickets.queues import Queue

from . import sla_services
from .search import index

TRANSIENT = (OperationalError, InterfaceError, DatabaseError)
# every task here: acknowledged after it ran, retried with backoff on a database hiccup
_RETRY: dict[str, Any] = {
    "acks_late": True,
    "autoretry_for": TRANSIENT,
    "retry_backoff": 2,
    "retry_backoff_max": 120,
    "max_retries": 8,
}


@shared_task(bind=True, route_to=Queue.SEARCH, ignore_result=True, **_RETRY)
def drain_search_documents(self: Any) -> int:
    """Rebuild the documents of the tickets and contacts changed since the last drain."""
    return index.drain_dirty()


@shared_task(bind=True, route_to=Queue.SEARCH, ignore_result=True, **_RETRY)
def refresh_search_documents(self: Any, ticket_ids: list[int]) -> int:
    return index.documents_refresh(ticket_ids=ticket_ids)


@shared_task(bind=True, route_to=Queue.SEARCH, ignore_result=True, **_RETRY)
def refresh_contact_search_documents(self: Any, contact_ids: list[int]) -> int:
    return index.documents_refresh_for_contacts(contact_ids=contact_ids)


@shared_task(bind=True, route_to=Queue.SEARCH, ignore_result=True, **_RETRY)
def refresh_organisation_search_documents(self: Any, organisation_id: int) -> int:
    return index.documents_refresh_for_organisation(organisation_id=organisation_id)


SLA_QUEUE = Queue.SLA


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


@shared_task(bind=True, route_to=Queue.BULK, ignore_result=True, **_RETRY)
def run_bulk_job(self: Any, job_id: int) -> int:
    """Run a bulk job to its end, one committed batch at a time. A retry (or a second delivery
    of this message) resumes at the stored cursor: no ticket is changed twice."""
    from .services.bulk import bulk_job_run_batch

    job = bulk_job_run_batch(job_id=job_id)
    while not job.is_finished:
        job = bulk_job_run_batch(job_id=job_id)
    return job.done


# Automation's tasks live beside its engine; importing them here lets the worker's
# autodiscovery (which looks for `tickets.tasks`) register them.
from .automation.tasks import (  # noqa: E402, F401
    notify_send,
    run_triggers,
    sweep_time_rules,
    webhook_send,
)


@shared_task(
    bind=True,
    route_to=Queue.DELIVER,
    acks_late=True,
    autoretry_for=(*TRANSIENT, OSError),
    retry_backoff=2,
    retry_backoff_max=120,
    max_retries=8,
    ignore_result=True,
)
def send_notification_email(self: Any, notification_id: int) -> bool:
    """Email one notification (idempotent: a sent one is not sent again)."""
    from .services.notifications import notification_email_send

    return notification_email_send(notification_id=notification_id)

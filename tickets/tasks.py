"""Thin Celery shells of the core: search documents are rebuilt here, off the request path."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import DatabaseError, InterfaceError, OperationalError

from helpdesk.queues import Queue

from .search import index

TRANSIENT = (OperationalError, InterfaceError, DatabaseError)


@shared_task(
    bind=True,
    route_to=Queue.SEARCH,
    acks_late=True,
    autoretry_for=TRANSIENT,
    retry_backoff=2,
    retry_backoff_max=120,
    max_retries=8,
    ignore_result=True,
)
def drain_search_documents(self: Any) -> int:
    """Rebuild the documents of the tickets and contacts changed since the last drain."""
    return index.drain_dirty()


@shared_task(
    bind=True,
    route_to=Queue.SEARCH,
    acks_late=True,
    autoretry_for=TRANSIENT,
    retry_backoff=2,
    retry_backoff_max=120,
    max_retries=8,
    ignore_result=True,
)
def refresh_search_documents(self: Any, ticket_ids: list[int]) -> int:
    return index.documents_refresh(ticket_ids=ticket_ids)


@shared_task(
    bind=True,
    route_to=Queue.SEARCH,
    acks_late=True,
    autoretry_for=TRANSIENT,
    retry_backoff=2,
    retry_backoff_max=120,
    max_retries=8,
    ignore_result=True,
)
def refresh_contact_search_documents(self: Any, contact_ids: list[int]) -> int:
    return index.documents_refresh_for_contacts(contact_ids=contact_ids)


@shared_task(
    bind=True,
    route_to=Queue.SEARCH,
    acks_late=True,
    autoretry_for=TRANSIENT,
    retry_backoff=2,
    retry_backoff_max=120,
    max_retries=8,
    ignore_result=True,
)
def refresh_organisation_search_documents(self: Any, organisation_id: int) -> int:
    return index.documents_refresh_for_organisation(organisation_id=organisation_id)


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

"""Celery shells of automation: each takes ids, calls the engine, retries transient errors.

All run on the `sla` queue (the clock's queue). Backoffs stay below its visibility timeout."""

from __future__ import annotations

import logging
import smtplib
import time
from typing import Any

import requests
from celery import shared_task
from django.core.mail import send_mail
from django.db import DatabaseError, InterfaceError, OperationalError
from django.utils import timezone

from tickets.queues import Queue

log = logging.getLogger(__name__)

TRANSIENT_DB = (OperationalError, InterfaceError, DatabaseError)
WEBHOOK_TIMEOUT = 10
WEBHOOK_MAX_RETRIES = 6


class WebhookRetry(Exception):
    """The receiver answered with a status worth retrying (5xx, 429)."""


@shared_task(
    bind=True,
    route_to=Queue.SLA,
    acks_late=True,
    autoretry_for=TRANSIENT_DB,
    retry_backoff=2,
    retry_backoff_max=120,
    max_retries=5,
)
def run_triggers(self: Any, event_id: int, chain: list[int], depth: int) -> str:
    from .engine import triggers_run

    result = triggers_run(event_id=event_id, chain=chain, depth=depth)
    return f"fired {result.fired} {result.refused}".strip()


@shared_task(
    bind=True,
    route_to=Queue.SLA,
    acks_late=True,
    autoretry_for=TRANSIENT_DB,
    retry_backoff=5,
    retry_backoff_max=120,
    max_retries=3,
)
def sweep_time_rules(self: Any) -> int:
    from .engine import time_sweep

    return time_sweep()


@shared_task(
    bind=True,
    route_to=Queue.SLA,
    acks_late=True,
    autoretry_for=(smtplib.SMTPException, OSError),
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=5,
)
def notify_send(self: Any, recipients: list[str], subject: str, text: str) -> int:
    return send_mail(subject, text, None, recipients)


@shared_task(
    bind=True,
    route_to=Queue.SLA,
    acks_late=True,
    autoretry_for=(requests.RequestException, WebhookRetry),
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=WEBHOOK_MAX_RETRIES,
)
def webhook_send(self: Any, call_id: int) -> str:
    """POST one webhook call, signed at send time. 2xx: sent. 4xx (but 429): failed, no
    retry. 5xx, 429 or no answer: retried with backoff, then failed."""
    from .models import WebhookCall
    from .webhooks import SIGNATURE_HEADER, webhook_signature

    call = WebhookCall.objects.filter(pk=call_id).first()
    if call is None or call.status != WebhookCall.Status.QUEUED:
        return "nothing to send"
    signature = webhook_signature(secret=call.secret, timestamp=int(time.time()), body=call.body)
    call.attempts += 1
    last_try = self.request.retries >= WEBHOOK_MAX_RETRIES
    try:
        response = requests.post(
            call.url,
            data=call.body.encode(),
            headers={"Content-Type": "application/json", SIGNATURE_HEADER: signature},
            timeout=WEBHOOK_TIMEOUT,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        call.error = str(exc)[:1000]
        call.status = WebhookCall.Status.FAILED if last_try else call.status
        call.save(update_fields=["attempts", "error", "status"])
        if last_try:
            return "failed"
        raise
    call.response_status = response.status_code
    if 200 <= response.status_code < 300:
        call.status = WebhookCall.Status.SENT
        call.sent_at = timezone.now()
        call.error = ""
        call.save(update_fields=["attempts", "response_status", "status", "sent_at", "error"])
        return "sent"
    call.error = response.text[:1000]
    retry = response.status_code >= 500 or response.status_code == 429
    if not retry or last_try:
        call.status = WebhookCall.Status.FAILED
    call.save(update_fields=["attempts", "response_status", "error", "status"])
    if retry and not last_try:
        raise WebhookRetry(f"{call.url} answered {response.status_code}")
    return "failed"

"""Nothing stays stuck after a crash: the sweeper that celery beat runs every minute.

A worker killed with SIGKILL (OOM, a node lost, `docker kill`) leaves its rows where its last
committed step put them:

- an inbound row received and claimed (its claim committed, its processing rolled back), or
  received and unclaimed when it died before the claim, or when its task was never
  published;
- a delivery in `sending` (claimed, the provider may or may not have taken it), or in
  `queued` when its task (or its retry, waiting out a countdown in the dead worker) is gone.

The broker gives such a task back only after its queue's visibility timeout
(`helpdesk.broker`). The sweep is the first line: it finds these rows in the database, which
is the truth, and queues their task again. Re-queuing is safe because both tasks are
idempotent: `inbound_process` claims from an open status only and threads in one transaction
(a half-done attempt rolled back whole; a message already threaded is recognised by its
external id), and `delivery_send` sends from `queued` only.

Two sweeps never queue a row twice: each selects with `FOR UPDATE SKIP LOCKED` and stamps
`queued_at`/`updated_at` before it commits, and a row is due again only a threshold after its
stamp. A row that a live worker is processing is locked by that worker's transaction and
skipped. A row that keeps dying is counted (`attempts`) and ends as failed with the reason,
visible in the admin and, for a delivery, on the ticket.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from . import parts
from .models import InboundMessage, OutboundDelivery
from .services import (
    Guarantee,
    _finish,
    delivery_fail,
    guarantee_of,
    inbound_give_up_reason,
    inbound_max_attempts,
)

log = logging.getLogger(__name__)

# How many rows one sweep handles of each kind; the next beat takes the rest.
SWEEP_LIMIT = 500


@dataclass(slots=True)
class SweepResult:
    inbound_requeued: list[int] = field(default_factory=list)
    inbound_failed: list[int] = field(default_factory=list)
    deliveries_requeued: list[int] = field(default_factory=list)
    deliveries_failed: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"inbound: {len(self.inbound_requeued)} re-queued, {len(self.inbound_failed)} "
            f"given up; deliveries: {len(self.deliveries_requeued)} re-queued, "
            f"{len(self.deliveries_failed)} failed"
        )


def inbound_stuck_after() -> timedelta:
    return timedelta(seconds=int(settings.HELPDESK_RECOVER_INBOUND_AFTER))


def sending_stuck_after() -> timedelta:
    return timedelta(seconds=int(settings.HELPDESK_RECOVER_SENDING_AFTER))


def delivery_max_attempts() -> int:
    return int(settings.HELPDESK_DELIVERY_MAX_ATTEMPTS)


def inbound_sweep(
    *,
    older_than: timedelta | None = None,
    include_received: bool = True,
    requeue: Callable[[int], object],
    limit: int = SWEEP_LIMIT,
) -> SweepResult:
    """Re-queue inbound rows whose processing died, or whose task never ran.

    Due, among received rows: a dead attempt (claimed more than `older_than` ago, and not
    queued since), and (when `include_received`) a lost task (queued more than `older_than`
    ago and not claimed since). The task shell passes `include_received=False` while the
    ingest queue still holds messages: an unclaimed row may then just be waiting its turn.
    A row stored without a task (its caller processes it in line) is never due. A due row past the
    attempt limit ends as failed instead. `requeue(id)` is called after commit."""
    cutoff = timezone.now() - (older_than if older_than is not None else inbound_stuck_after())
    due = Q(claimed_at__lt=cutoff) & (Q(queued_at__isnull=True) | Q(queued_at__lte=F("claimed_at")))
    if include_received:
        due |= Q(queued_at__lt=cutoff) & (
            Q(claimed_at__isnull=True) | Q(claimed_at__lt=F("queued_at"))
        )
    result = SweepResult()
    with transaction.atomic():
        rows = list(
            InboundMessage.objects.select_for_update(skip_locked=True)
            .filter(due, status=InboundMessage.Status.RECEIVED)
            .defer("raw")
            .order_by("id")[:limit]
        )
        now = timezone.now()
        for inbound in rows:
            if inbound.attempts >= inbound_max_attempts():
                reason = inbound_give_up_reason(inbound, tries=inbound.attempts)
                _finish(inbound, InboundMessage.Status.FAILED, reason)
                result.inbound_failed.append(inbound.pk)
            else:
                result.inbound_requeued.append(inbound.pk)
        InboundMessage.objects.filter(pk__in=result.inbound_requeued).update(queued_at=now)
        for inbound_id in result.inbound_requeued:
            transaction.on_commit(partial(requeue, inbound_id))
    if rows:
        log.warning("recovery: %s", result)
    return result


def delivery_sweep(
    *,
    older_than: timedelta | None = None,
    include_queued: bool = True,
    requeue: Callable[[int], object],
    limit: int = SWEEP_LIMIT,
) -> SweepResult:
    """Resolve deliveries stuck in `sending` (claimed more than `older_than` ago) by their
    channel's guarantee, and re-queue (when `include_queued`) `queued` ones untouched for
    longer than a retry's longest countdown plus `older_than`.

    - AT_LEAST_ONCE (email) and EXACTLY_ONCE: back to queued, sent again.
    - AT_MOST_ONCE (messaging APIs): back to queued when the parts record shows nothing in
      flight (the rest is sent, nothing twice); otherwise failed, naming the part whose fate
      is unknown, so an agent checks with the customer instead of the customer getting it
      twice.
    Past the attempt limit a delivery fails. `requeue(id)` is called after commit."""
    stuck_after = older_than if older_than is not None else sending_stuck_after()
    now = timezone.now()
    cutoff = now - stuck_after
    due = Q(status=OutboundDelivery.Status.SENDING, claimed_at__lt=cutoff, updated_at__lt=cutoff)
    if include_queued:
        idle = now - stuck_after - timedelta(seconds=int(settings.HELPDESK_DELIVERY_RETRY_MAX))
        due |= Q(status=OutboundDelivery.Status.QUEUED, updated_at__lt=idle)
    result = SweepResult()
    with transaction.atomic():
        rows = list(
            OutboundDelivery.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("message")
            .filter(due)
            .order_by("id")[:limit]
        )
        for delivery in rows:
            reason = _delivery_verdict(delivery)
            if reason:
                delivery_fail(delivery=delivery, reason=reason)
                result.deliveries_failed.append(delivery.pk)
                continue
            if delivery.status == OutboundDelivery.Status.SENDING:
                delivery.error = (
                    f"attempt {delivery.attempts} was interrupted (the worker stopped while "
                    "sending); sending again"
                )
            delivery.status = OutboundDelivery.Status.QUEUED
            delivery.updated_at = now
            delivery.save(update_fields=["status", "error", "updated_at"])
            result.deliveries_requeued.append(delivery.pk)
        for delivery_id in result.deliveries_requeued:
            transaction.on_commit(partial(requeue, delivery_id))
    if rows:
        log.warning("recovery: %s", result)
    return result


def _delivery_verdict(delivery: OutboundDelivery) -> str:
    """Why this stuck delivery must fail rather than go again ("" when it may go again)."""
    if delivery.attempts >= delivery_max_attempts():
        return (
            f"gave up after {delivery.attempts} attempts that never finished (the worker "
            "stopped each time)" + (f"; last error: {delivery.error}" if delivery.error else "")
        )
    if delivery.status != OutboundDelivery.Status.SENDING:
        return ""
    if guarantee_of(delivery.channel) != Guarantee.AT_MOST_ONCE:
        return ""
    unknown = parts.in_flight(delivery)
    if not unknown:
        return ""
    sent = parts.confirmed(delivery)
    return (
        f"the worker stopped while sending {', '.join(unknown)}: it may or may not have "
        "reached the customer, and this channel cannot tell, so it was not sent again (no "
        "duplicate). "
        + (f"Sent before: {', '.join(sent)}. " if sent else "")
        + "Check with the customer and send it again if it is missing."
    )

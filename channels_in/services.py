"""The one ingest pipeline and the one delivery pipeline, for every channel.

Inbound: `inbound_store` commits the raw payload (unique on account + external id) and only
then queues `inbound_process`; the caller acknowledges its source after `inbound_store`
returns. `inbound_process` normalises by the account's kind and threads through
`tickets.services.message_ingest`, marking the row in the same transaction, so a retry or a
second worker changes nothing.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from tickets import services as ticket_services
from tickets.types import IncomingMessage, IngestResult

from .errors import DeliveryError, Ignored, Rejected
from .models import ChannelAccount, InboundMessage, OutboundDelivery

log = logging.getLogger(__name__)

Normaliser = Callable[[InboundMessage], IncomingMessage]
Deliverer = Callable[[OutboundDelivery], str]

# channel kind -> function turning a stored raw payload into an IncomingMessage
NORMALISERS: dict[str, Normaliser] = {}
# channel kind -> function sending one delivery, returning the provider's message id
DELIVERERS: dict[str, Deliverer] = {}


def register_normaliser(kind: str) -> Callable[[Normaliser], Normaliser]:
    def wrap(fn: Normaliser) -> Normaliser:
        NORMALISERS[kind] = fn
        return fn

    return wrap


def register_deliverer(kind: str) -> Callable[[Deliverer], Deliverer]:
    def wrap(fn: Deliverer) -> Deliverer:
        DELIVERERS[kind] = fn
        return fn

    return wrap


@dataclass(frozen=True, slots=True)
class Stored:
    inbound: InboundMessage
    created: bool


def inbound_store(
    *,
    account: ChannelAccount,
    external_id: str,
    raw: bytes,
    content_type: str = "message/rfc822",
    process: bool = True,
) -> Stored:
    """Commit one raw inbound payload; a second delivery of the same id stores nothing.

    Queues processing after commit. Returns once the row is durable: only then may the caller
    acknowledge the source (IMAP flag, HTTP 200, SMTP 250)."""
    external_id = (external_id or "sha256:" + hashlib.sha256(raw).hexdigest())[:500]
    try:
        with transaction.atomic():
            inbound = InboundMessage.objects.create(
                account=account,
                external_id=external_id,
                raw=raw,
                raw_sha256=hashlib.sha256(raw).hexdigest(),
                content_type=content_type,
            )
            if process:
                from .tasks import process_inbound

                inbound_id = inbound.pk
                transaction.on_commit(lambda: process_inbound.delay(inbound_id))
            created = True
    except IntegrityError:
        inbound = InboundMessage.objects.get(account=account, external_id=external_id)
        created = False
    return Stored(inbound, created)


def inbound_process(*, inbound_id: int) -> InboundMessage:
    """Normalise and thread one stored message. Idempotent; locks the inbound row.

    Raises only for transient trouble (database gone): the task retries those. A payload that
    cannot be understood ends as `failed` with its reason, an ignorable one as `ignored`."""
    with transaction.atomic():
        inbound = (
            # of=self: locking the joined account row too would serialise every message of an
            # account, and deadlock against a reply's delivery row referencing that account
            InboundMessage.objects.select_for_update(of=("self",))
            .select_related("account")
            .get(pk=inbound_id)
        )
        if inbound.status in (InboundMessage.Status.PROCESSED, InboundMessage.Status.IGNORED):
            return inbound
        inbound.attempts += 1
        normalise = NORMALISERS.get(inbound.account.kind)
        try:
            if normalise is None:
                raise Rejected(f"no normaliser for channel {inbound.account.kind!r}")
            with transaction.atomic():
                incoming = normalise(inbound)
                result = ticket_services.message_ingest(incoming=incoming)
                after = POST_INGEST.get(inbound.account.kind)
                if after is not None and not result.duplicate:
                    after(inbound, incoming, result)
        except Ignored as exc:
            reason = exc.effect() if exc.effect is not None else str(exc)
            _finish(inbound, InboundMessage.Status.IGNORED, reason)
        except (Rejected, ticket_services.ServiceError) as exc:
            _finish(inbound, InboundMessage.Status.FAILED, str(exc))
        else:
            _finish(inbound, InboundMessage.Status.PROCESSED, _describe(result), result)
        return inbound


def _describe(result: IngestResult) -> str:
    if result.duplicate:
        return "already threaded (duplicate delivery)"
    text = "new ticket" if result.created_ticket else "added to ticket"
    return f"{text}; {result.flagged}" if result.flagged else text


def _finish(
    inbound: InboundMessage, status: str, reason: str, result: IngestResult | None = None
) -> None:
    inbound.status = status
    inbound.reason = reason[:2000]
    inbound.processed_at = timezone.now()
    fields = ["status", "reason", "processed_at", "attempts"]
    if result is not None:
        inbound.ticket_id = result.ticket_id
        inbound.message_id = result.message_id
        fields += ["ticket_id", "message_id"]
    inbound.save(update_fields=fields)


def delivery_send(*, delivery_id: int) -> OutboundDelivery:
    """Send one queued delivery. Safe to run twice: the row is locked while sending and a
    sent delivery is not sent again.

    Raises DeliveryError for transient failures, after recording the attempt (the task
    retries); permanent ones end the delivery as failed and show on the ticket."""
    transient: DeliveryError | None = None
    with transaction.atomic():
        delivery = (
            # of=self: Postgres cannot lock the nullable side of the outer join to `account`
            OutboundDelivery.objects.select_for_update(of=("self",))
            .select_related("message__ticket", "account")
            .get(pk=delivery_id)
        )
        if delivery.status != OutboundDelivery.Status.QUEUED:
            return delivery
        deliver = DELIVERERS.get(delivery.channel)
        delivery.attempts += 1
        delivery.updated_at = timezone.now()
        try:
            if deliver is None:
                raise DeliveryError(f"no way to send by {delivery.channel}", permanent=True)
            provider_id = deliver(delivery)
        except DeliveryError as exc:
            if exc.permanent:
                return delivery_fail(delivery=delivery, reason=str(exc))
            delivery.error = str(exc)[:2000]
            delivery.save(update_fields=["attempts", "error", "updated_at"])
            transient = exc
        else:
            delivery.status = OutboundDelivery.Status.SENT
            delivery.provider_id = provider_id[:500] or delivery.provider_id
            delivery.sent_at = timezone.now()
            delivery.error = ""
            delivery.save(
                update_fields=[
                    "status",
                    "provider_id",
                    "sent_at",
                    "error",
                    "attempts",
                    "updated_at",
                ]
            )
            ticket_services.delivery_record_event(
                ticket_id=delivery.message.ticket_id,
                message_id=delivery.message_id,
                status="sent",
                detail=f"{delivery.channel} to {delivery.recipient}",
            )
    if transient is not None:
        raise transient  # after commit, so the attempt and its error are kept
    return delivery


def delivery_fail(
    *, delivery: OutboundDelivery, reason: str, occurred_at: datetime | None = None
) -> OutboundDelivery:
    delivery.status = OutboundDelivery.Status.FAILED
    delivery.error = reason[:2000]
    delivery.updated_at = timezone.now()
    delivery.save(update_fields=["status", "error", "attempts", "updated_at"])
    ticket_services.delivery_record_event(
        ticket_id=delivery.message.ticket_id,
        message_id=delivery.message_id,
        status="failed",
        detail=reason,
        occurred_at=occurred_at,
    )
    return delivery


def delivery_update_status(
    *, provider_id: str, status: str, detail: str = "", occurred_at: datetime | None = None
) -> int:
    """Providers' delivery/read receipts and bounces land here. Never moves a status back.
    Each change is an event on the ticket at `occurred_at` (when the receipt arrived)."""
    order: list[str] = [
        OutboundDelivery.Status.QUEUED,
        OutboundDelivery.Status.SENT,
        OutboundDelivery.Status.DELIVERED,
        OutboundDelivery.Status.READ,
    ]
    changed = 0
    with transaction.atomic():
        for delivery in (
            OutboundDelivery.objects.select_for_update(of=("self",))
            .select_related("message")
            .filter(provider_id=provider_id)
        ):
            if status == OutboundDelivery.Status.FAILED:
                if delivery.status != OutboundDelivery.Status.FAILED:
                    delivery_fail(
                        delivery=delivery,
                        reason=detail or "delivery failed",
                        occurred_at=occurred_at,
                    )
                    changed += 1
                continue
            if delivery.status in order and order.index(status) > order.index(delivery.status):
                delivery.status = status
                delivery.updated_at = timezone.now()
                delivery.save(update_fields=["status", "updated_at"])
                ticket_services.delivery_record_event(
                    ticket_id=delivery.message.ticket_id,
                    message_id=delivery.message_id,
                    status=status,
                    detail=detail,
                    occurred_at=occurred_at,
                )
                changed += 1
    return changed


def delivery_give_up(*, delivery_id: int, reason: str) -> None:
    with transaction.atomic():
        delivery = (
            OutboundDelivery.objects.select_for_update(of=("self",))
            .select_related("message")
            .get(pk=delivery_id)
        )
        if delivery.status == OutboundDelivery.Status.QUEUED:
            delivery_fail(
                delivery=delivery, reason=f"gave up after {delivery.attempts} attempts: {reason}"
            )


# --- post-ingest hooks -----------------------------------------------------------------------

PostIngest = Callable[[InboundMessage, IncomingMessage, IngestResult], None]
# channel kind -> function run by `inbound_process` inside its transaction, right after a new
# (non-duplicate) message is threaded: its writes commit atomically with the message, and it
# queues after-commit work (an acknowledgement) with `transaction.on_commit`.
POST_INGEST: dict[str, PostIngest] = {}


def register_post_ingest(kind: str) -> Callable[[PostIngest], PostIngest]:
    def wrap(fn: PostIngest) -> PostIngest:
        POST_INGEST[kind] = fn
        return fn

    return wrap

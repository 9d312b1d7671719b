"""The one ingest pipeline and the one delivery pipeline, for every channel.

Inbound: `inbound_store` commits the raw payload (unique on account + external id) and only
then queues `inbound_process`; the caller acknowledges its source after `inbound_store`
returns. `inbound_process` claims the row (claim time and attempt counted, committed on its
own), then normalises by the account's kind and threads through
`tickets.services.message_ingest`, marking the row in the same transaction, so a retry or a
second worker changes nothing. A worker killed mid-way leaves the row received with its
claim: `channels_in.recovery` re-queues it (and gives up on a row that keeps killing
workers).

Outbound: `delivery_send` claims the delivery (status sending, short transaction), talks to
the provider outside any transaction, then records the outcome (short transaction): a slow
provider never holds a row lock. What happens to a send interrupted between the provider's
answer and the record is each deliverer's declared `Guarantee` (see `recovery`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from tickets import services as ticket_services
from tickets.types import IncomingMessage, IngestResult

from .errors import ChannelError, DeliveryError, Ignored, Rejected
from .models import ChannelAccount, InboundMessage, OutboundDelivery

log = logging.getLogger(__name__)

Normaliser = Callable[[InboundMessage], IncomingMessage]
Deliverer = Callable[[OutboundDelivery], str]

# channel kind -> function turning a stored raw payload into an IncomingMessage
NORMALISERS: dict[str, Normaliser] = {}
# channel kind -> function sending one delivery, returning the provider's message id
DELIVERERS: dict[str, Deliverer] = {}


class Guarantee(StrEnum):
    """What a channel promises when a send is interrupted (the worker died after the
    provider may have taken the message, before the outcome was recorded).

    - EXACTLY_ONCE: the "send" is our own database (live chat): it runs inside the
      transaction that records it, so it happened if and only if it is recorded.
    - AT_LEAST_ONCE: sent again. Email: no SMTP server or ESP we use takes an idempotency
      key, but the copy carries the same Message-ID, by which mail systems recognise it
      (and threads show it once); a reply that never arrives is the worse failure.
    - AT_MOST_ONCE: resumed only where the parts record proves nothing was in flight;
      otherwise the delivery fails, visibly on the ticket, naming what may not have
      arrived. The messaging APIs (Telegram, WhatsApp, Messenger, Twilio SMS) take no
      idempotency key, and a duplicate in a customer's chat is worse than asking the agent.
    """

    EXACTLY_ONCE = "exactly-once"
    AT_LEAST_ONCE = "at-least-once"
    AT_MOST_ONCE = "at-most-once"


# channel kind -> its guarantee (deliverers registered without one: AT_MOST_ONCE)
GUARANTEES: dict[str, Guarantee] = {}


def register_normaliser(kind: str) -> Callable[[Normaliser], Normaliser]:
    def wrap(fn: Normaliser) -> Normaliser:
        NORMALISERS[kind] = fn
        return fn

    return wrap


def register_deliverer(
    kind: str, *, guarantee: Guarantee = Guarantee.AT_MOST_ONCE
) -> Callable[[Deliverer], Deliverer]:
    def wrap(fn: Deliverer) -> Deliverer:
        DELIVERERS[kind] = fn
        GUARANTEES[kind] = guarantee
        return fn

    return wrap


def guarantee_of(channel: str) -> Guarantee:
    return GUARANTEES.get(channel, Guarantee.AT_MOST_ONCE)


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
                queued_at=timezone.now() if process else None,
            )
            if process:
                _queue_after_commit(inbound.pk)
            created = True
    except IntegrityError:
        inbound = InboundMessage.objects.get(account=account, external_id=external_id)
        created = False
    return Stored(inbound, created)


def inbound_queue(*, inbound: InboundMessage) -> None:
    """Queue processing of a stored row after the current transaction commits, noting when
    (`queued_at`): the sweeper re-queues a row whose task never ran."""
    now = timezone.now()
    InboundMessage.objects.filter(pk=inbound.pk).update(queued_at=now)
    inbound.queued_at = now
    _queue_after_commit(inbound.pk)


def _queue_after_commit(inbound_id: int) -> None:
    from .tasks import process_inbound

    transaction.on_commit(lambda: process_inbound.delay(inbound_id))


# a row may be processed again from these (failed: the admin's "reprocess")
_OPEN_STATUSES = (InboundMessage.Status.RECEIVED, InboundMessage.Status.FAILED)


def inbound_max_attempts() -> int:
    return int(settings.HELPDESK_INBOUND_MAX_ATTEMPTS)


def inbound_process(*, inbound_id: int) -> InboundMessage:
    """Normalise and thread one stored message. Idempotent; locks the inbound row.

    First claims the row in a transaction of its own (`claimed_at`, `attempts` + 1; the
    status stays received until the outcome, so nobody sees a half state): the claim
    survives a worker killed during the processing transaction (which rolls back whole:
    message, ticket and row status together), so the sweeper can tell a dead attempt from a
    message still waiting in the queue, and a row that kills its worker every time is
    counted. The attempt past `HELPDESK_INBOUND_MAX_ATTEMPTS` ends the
    row as failed, with that reason, instead of trying again.

    Raises only for transient trouble (database gone): the task retries those. A payload that
    cannot be understood ends as `failed` with its reason, an ignorable one as `ignored`.
    Any other exception is noted in the row's reason and re-raised (the row stays received
    and claimed; the sweeper retries it up to the limit)."""
    # The claim is one UPDATE, and matches nothing once the row is final (a duplicate task
    # after the first one finished). It waits for a processing transaction holding the row.
    InboundMessage.objects.filter(pk=inbound_id, status__in=_OPEN_STATUSES).update(
        claimed_at=timezone.now(), attempts=F("attempts") + 1
    )
    try:
        return _inbound_process_claimed(inbound_id)
    except (ChannelError, ticket_services.ServiceError):
        raise
    except Exception as exc:
        _note_crash(inbound_id, exc)
        raise


def _inbound_process_claimed(inbound_id: int) -> InboundMessage:
    with transaction.atomic():
        inbound = (
            # of=self: locking the joined account row too would serialise every message of an
            # account, and deadlock against a reply's delivery row referencing that account
            InboundMessage.objects.select_for_update(of=("self",))
            .select_related("account")
            .get(pk=inbound_id)
        )
        if inbound.status not in _OPEN_STATUSES:
            return inbound  # finished by another task
        if inbound.attempts > inbound_max_attempts():
            reason = inbound_give_up_reason(inbound, tries=inbound.attempts - 1)
            _finish(inbound, InboundMessage.Status.FAILED, reason)
            return inbound
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


def inbound_give_up_reason(inbound: InboundMessage, *, tries: int) -> str:
    last = f" Last error: {inbound.reason}" if inbound.reason else ""
    return (
        f"gave up after {tries} attempts: processing never finished (the "
        f"worker died or raised each time); kept as it arrived.{last}"
    )


def _note_crash(inbound_id: int, exc: Exception) -> None:
    """Keep what an unexpected exception said, for the row's reason if we give up on it."""
    try:
        InboundMessage.objects.filter(pk=inbound_id, status=InboundMessage.Status.RECEIVED).update(
            reason=f"{type(exc).__name__}: {exc}"[:2000]
        )
    except Exception:  # noqa: BLE001 - the database may be what failed; the task retries
        log.warning("inbound %s: could not note the error", inbound_id, exc_info=True)


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
    """Send one queued delivery. Safe to run twice: a delivery is sent from queued only.

    Three steps, none holding a lock while the provider is talked to:
    1. claim (short transaction): queued -> sending, `claimed_at`, `attempts` + 1;
    2. send, outside any transaction (a multi-part reply records each part as the provider
       accepts it, committed at once: see `channels_in.parts`);
    3. record (short transaction): sent, back to queued with the error (transient), or
       failed (permanent), and the ticket's event.
    A channel whose guarantee is EXACTLY_ONCE (live chat: the send is our own database)
    sends in one transaction with its record instead. A worker dying between 2 and 3 leaves the
    delivery in sending; `channels_in.recovery` resolves it by the channel's guarantee.

    Call it outside a transaction: inside one, the claim cannot commit on its own.
    Raises DeliveryError for transient failures, after recording the attempt (the task
    retries); permanent ones end the delivery as failed and show on the ticket."""
    channel = (
        OutboundDelivery.objects.filter(pk=delivery_id).values_list("channel", flat=True).get()
    )
    if guarantee_of(channel) == Guarantee.EXACTLY_ONCE:
        return _delivery_send_local(delivery_id)
    delivery = _delivery_claim(delivery_id)
    if delivery is None:
        return OutboundDelivery.objects.get(pk=delivery_id)
    deliver = DELIVERERS.get(delivery.channel)
    try:
        if deliver is None:
            raise DeliveryError(f"no way to send by {delivery.channel}", permanent=True)
        provider_id = deliver(delivery)
    except DeliveryError as exc:
        return _delivery_record(delivery, error=exc)
    except Exception as exc:
        # The provider may have taken it: the row stays in sending, with what happened, and
        # the sweeper resolves it by the channel's guarantee.
        OutboundDelivery.objects.filter(pk=delivery.pk, attempts=delivery.attempts).update(
            error=f"{type(exc).__name__}: {exc}"[:2000], updated_at=timezone.now()
        )
        raise
    return _delivery_record(delivery, provider_id=provider_id)


def _delivery_send_local(delivery_id: int) -> OutboundDelivery:
    """EXACTLY_ONCE channels: the send writes our own rows, in the transaction that records
    it; a worker dying mid-way rolls both back and the delivery is still queued."""
    transient: DeliveryError | None = None
    with transaction.atomic():
        delivery = (
            OutboundDelivery.objects.select_for_update(of=("self",))
            .select_related("message__ticket", "account")
            .get(pk=delivery_id)
        )
        if delivery.status != OutboundDelivery.Status.QUEUED:
            return delivery
        delivery.attempts += 1
        delivery.updated_at = timezone.now()
        try:
            provider_id = DELIVERERS[delivery.channel](delivery)
        except DeliveryError as exc:
            if exc.permanent:
                return delivery_fail(delivery=delivery, reason=str(exc))
            delivery.error = str(exc)[:2000]
            delivery.save(update_fields=["attempts", "error", "updated_at"])
            transient = exc
        else:
            delivery.save(update_fields=["attempts"])
            _mark_sent(delivery, provider_id)
    if transient is not None:
        raise transient
    return delivery


def _delivery_claim(delivery_id: int) -> OutboundDelivery | None:
    with transaction.atomic():
        delivery = (
            # of=self: Postgres cannot lock the nullable side of the outer join to `account`
            OutboundDelivery.objects.select_for_update(of=("self",))
            .select_related("message__ticket", "account")
            .get(pk=delivery_id)
        )
        if delivery.status != OutboundDelivery.Status.QUEUED:
            return None  # sent, failed, or being sent by another worker
        now = timezone.now()
        delivery.status = OutboundDelivery.Status.SENDING
        delivery.claimed_at = now
        delivery.updated_at = now
        delivery.attempts += 1
        delivery.save(update_fields=["status", "claimed_at", "updated_at", "attempts"])
    return delivery


def _delivery_record(
    claimed: OutboundDelivery,
    *,
    provider_id: str = "",
    error: DeliveryError | None = None,
) -> OutboundDelivery:
    """Record the outcome of the claimed attempt. Our claim is (status sending, our attempt
    number): when the sweeper has resolved the attempt meanwhile (a send slower than its
    threshold), a success is still recorded (the truth wins) and an error is only logged."""
    transient: DeliveryError | None = None
    with transaction.atomic():
        delivery = (
            OutboundDelivery.objects.select_for_update(of=("self",))
            .select_related("message__ticket", "account")
            .get(pk=claimed.pk)
        )
        ours = (
            delivery.status == OutboundDelivery.Status.SENDING
            and delivery.attempts == claimed.attempts
        )
        if error is not None:
            if not ours:
                log.warning("delivery %s: late error after takeover: %s", delivery.pk, error)
                return delivery
            if error.permanent:
                return delivery_fail(delivery=delivery, reason=str(error))
            delivery.status = OutboundDelivery.Status.QUEUED
            delivery.error = str(error)[:2000]
            delivery.updated_at = timezone.now()
            delivery.save(update_fields=["status", "error", "updated_at"])
            transient = error
        elif delivery.status in (OutboundDelivery.Status.SENDING, OutboundDelivery.Status.QUEUED):
            _mark_sent(delivery, provider_id)
        elif delivery.status == OutboundDelivery.Status.FAILED and not ours:
            # the sweeper gave up on this attempt as "may not have arrived": it did
            _mark_sent(delivery, provider_id)
    if transient is not None:
        raise transient  # after commit, so the attempt and its error are kept
    return delivery


def _mark_sent(delivery: OutboundDelivery, provider_id: str) -> None:
    delivery.status = OutboundDelivery.Status.SENT
    delivery.provider_id = provider_id[:500] or delivery.provider_id
    delivery.sent_at = timezone.now()
    delivery.updated_at = delivery.sent_at
    delivery.error = ""
    delivery.save(update_fields=["status", "provider_id", "sent_at", "error", "updated_at"])
    ticket_services.delivery_record_event(
        ticket_id=delivery.message.ticket_id,
        message_id=delivery.message_id,
        status="sent",
        detail=f"{delivery.channel} to {delivery.recipient}",
    )


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
        OutboundDelivery.Status.SENDING,
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


def delivery_retry(*, message_id: int, actor: Any) -> int:
    """An agent asks again for an outbound message whose delivery failed: each failed delivery
    of it goes back to queued (a fresh round of attempts; the parts already accepted are kept,
    so only what is missing is sent) and to the deliver queue after commit. Returns how many
    were requeued; raises ServiceError when none had failed (already retried, or sent)."""
    from .tasks import deliver_outbound  # the task module imports these services

    with transaction.atomic():
        failed = list(
            OutboundDelivery.objects.select_for_update(of=("self",))
            .select_related("message")
            .filter(message_id=message_id, status=OutboundDelivery.Status.FAILED)
        )
        if not failed:
            raise ticket_services.ServiceError("This message has no failed delivery to retry.")
        who = getattr(actor, "get_username", lambda: "")() or "an agent"
        for delivery in failed:
            delivery.status = OutboundDelivery.Status.QUEUED
            delivery.error = ""
            delivery.attempts = 0
            delivery.claimed_at = None
            delivery.updated_at = timezone.now()
            delivery.save(update_fields=["status", "error", "attempts", "claimed_at", "updated_at"])
            ticket_services.delivery_record_event(
                ticket_id=delivery.message.ticket_id,
                message_id=delivery.message_id,
                status=OutboundDelivery.Status.QUEUED,
                detail=f"retry requested by {who}",
            )
        ids = [d.pk for d in failed]
        transaction.on_commit(lambda: [deliver_outbound.delay(pk) for pk in ids])
    return len(ids)


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

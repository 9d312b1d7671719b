"""The sweeper finds what a dead worker left (inbound rows in processing or never processed,
deliveries in sending or never sent), queues it once, and gives up visibly on what keeps
dying. Deliveries resolve by their channel's guarantee."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
import responses
from django.db import connections, transaction
from django.utils import timezone

from channels_in import recovery
from channels_in.models import ChannelAccount, InboundMessage, OutboundDelivery
from channels_in.services import (
    Guarantee,
    delivery_send,
    guarantee_of,
    inbound_process,
    inbound_store,
)
from tests.channels_in.mailtools import email_account, ingest, make_mail
from tests.channels_in.test_telegram import API, TOKEN, _reply, _sent_text, bot  # noqa: F401
from tickets import services as ticket_services
from tickets.models import Message, Ticket, TicketEvent

pytestmark = pytest.mark.django_db

LONG_AGO = timedelta(minutes=30)


class Queued(list[int]):
    """Stands in for `task.delay`: records what the sweep queued."""

    def __call__(self, row_id: int) -> None:
        self.append(row_id)


def stored(box: ChannelAccount, n: int = 1, **fields: Any) -> InboundMessage:
    raw = make_mail(message_id=f"<sweep{n}@customer.test>", subject=f"Sweep {n}")
    row = inbound_store(account=box, external_id="", raw=raw, process=False).inbound
    InboundMessage.objects.filter(pk=row.pk).update(**fields)
    row.refresh_from_db()
    return row


def test_a_row_whose_worker_died_is_queued_once_and_then_processed(support: Any) -> None:
    box = email_account(group=support)
    dead = stored(
        box,
        queued_at=timezone.now() - LONG_AGO * 2,
        claimed_at=timezone.now() - LONG_AGO,
        attempts=1,
    )
    alive = stored(box, 2, queued_at=timezone.now() - LONG_AGO, claimed_at=timezone.now())
    queued = Queued()
    with django_capture_on_commit():
        result = recovery.inbound_sweep(requeue=queued)
    assert queued == [dead.pk] == result.inbound_requeued
    # a second sweep (another beat, or two at once) queues nothing more
    with django_capture_on_commit():
        recovery.inbound_sweep(requeue=queued)
    assert queued == [dead.pk]
    assert inbound_process(inbound_id=dead.pk).status == InboundMessage.Status.PROCESSED
    assert Message.objects.count() == 1
    alive.refresh_from_db()
    assert alive.status == InboundMessage.Status.RECEIVED and alive.attempts == 0


def test_a_received_row_whose_task_never_ran_is_queued_only_when_the_queue_is_drained(
    support: Any,
) -> None:
    box = email_account(group=support)
    lost = stored(box, queued_at=timezone.now() - LONG_AGO)
    # queued again after its dead attempt, and that task lost too
    relost = stored(
        box, 3, claimed_at=timezone.now() - LONG_AGO * 2, queued_at=timezone.now() - LONG_AGO
    )
    stored(box, 2)  # stored without a task (processed in line by its caller): not ours
    queued = Queued()
    with django_capture_on_commit():
        recovery.inbound_sweep(requeue=queued, include_received=False)
    assert queued == []  # it may be waiting its turn in the queue
    with django_capture_on_commit():
        recovery.inbound_sweep(requeue=queued, include_received=True)
    assert queued == [lost.pk, relost.pk]


def test_a_row_that_keeps_killing_its_worker_ends_failed_with_the_reason(
    support: Any, settings: Any
) -> None:
    settings.HELPDESK_INBOUND_MAX_ATTEMPTS = 3
    box = email_account(group=support)
    poison = stored(
        box,
        claimed_at=timezone.now() - LONG_AGO,
        attempts=3,
        reason="MemoryError: out of memory",
    )
    queued = Queued()
    with django_capture_on_commit():
        result = recovery.inbound_sweep(requeue=queued)
    assert queued == [] and result.inbound_failed == [poison.pk]
    poison.refresh_from_db()
    assert poison.status == InboundMessage.Status.FAILED
    assert "gave up after 3 attempts" in poison.reason and "MemoryError" in poison.reason


def test_a_redelivered_task_past_the_limit_gives_up_instead_of_trying_again(
    support: Any, settings: Any
) -> None:
    settings.HELPDESK_INBOUND_MAX_ATTEMPTS = 2
    box = email_account(group=support)
    row = stored(box, claimed_at=timezone.now(), attempts=2)
    done = inbound_process(inbound_id=row.pk)  # the broker's own redelivery, say
    assert done.status == InboundMessage.Status.FAILED
    assert "gave up after 2 attempts" in done.reason and Message.objects.count() == 0


def test_an_unexpected_error_is_kept_on_the_row_for_the_sweeper(
    support: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = email_account(group=support)
    row = stored(box)

    def broken(*, incoming: Any) -> Any:
        raise KeyError("threading bug")

    monkeypatch.setattr(ticket_services, "message_ingest", broken)
    with pytest.raises(KeyError):
        inbound_process(inbound_id=row.pk)
    row.refresh_from_db()
    assert row.status == InboundMessage.Status.RECEIVED and row.attempts == 1
    assert row.claimed_at is not None and "threading bug" in row.reason


@pytest.mark.django_db(transaction=True)
def test_a_row_a_live_worker_holds_is_skipped(support: Any) -> None:
    box = email_account(group=support)
    row = stored(box, claimed_at=timezone.now() - LONG_AGO)
    locked, release = threading.Event(), threading.Event()

    def worker() -> None:  # a slow processing transaction holding the row
        try:
            with transaction.atomic():
                InboundMessage.objects.select_for_update().get(pk=row.pk)
                locked.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert locked.wait(10)
        queued = Queued()
        recovery.inbound_sweep(requeue=queued)
        assert queued == []
    finally:
        release.set()
        thread.join()
    recovery.inbound_sweep(requeue=queued)
    assert queued == [row.pk]


# --- deliveries -------------------------------------------------------------------------------


def email_reply(support: Any, agent: Any) -> OutboundDelivery:
    box = email_account(group=support)
    ticket = Ticket.objects.get(pk=ingest(box, make_mail()).ticket_id)
    reply = ticket_services.ticket_reply(ticket=ticket, author=agent, text="On its way.")
    return OutboundDelivery.objects.get(message=reply)


def left_sending(delivery: OutboundDelivery, **fields: Any) -> None:
    """As a worker killed after its claim leaves it."""
    long_ago = timezone.now() - LONG_AGO
    values: dict[str, Any] = {
        "status": OutboundDelivery.Status.SENDING,
        "claimed_at": long_ago,
        "updated_at": long_ago,
        "attempts": 1,
    }
    OutboundDelivery.objects.filter(pk=delivery.pk).update(**{**values, **fields})


def test_each_channel_declares_what_an_interrupted_send_does() -> None:
    assert guarantee_of("email") == Guarantee.AT_LEAST_ONCE
    assert guarantee_of("chat") == Guarantee.EXACTLY_ONCE
    for channel in ("telegram", "whatsapp", "messenger", "sms"):
        assert guarantee_of(channel) == Guarantee.AT_MOST_ONCE


def test_an_interrupted_email_is_sent_again(support: Any, agent: Any) -> None:
    delivery = email_reply(support, agent)
    left_sending(delivery)
    queued = Queued()
    with django_capture_on_commit():
        result = recovery.delivery_sweep(requeue=queued)
    assert queued == [delivery.pk] == result.deliveries_requeued
    delivery.refresh_from_db()
    assert delivery.status == OutboundDelivery.Status.QUEUED
    assert "interrupted" in delivery.error
    with django_capture_on_commit():
        recovery.delivery_sweep(requeue=queued)
    assert queued == [delivery.pk]  # not twice


def test_a_delivery_whose_task_was_lost_is_queued_again(
    support: Any, agent: Any, settings: Any
) -> None:
    delivery = email_reply(support, agent)
    idle = timedelta(seconds=settings.HELPDESK_DELIVERY_RETRY_MAX) + LONG_AGO * 2
    OutboundDelivery.objects.filter(pk=delivery.pk).update(updated_at=timezone.now() - idle)
    queued = Queued()
    with django_capture_on_commit():
        recovery.delivery_sweep(requeue=queued, include_queued=False)
        assert queued == []
        recovery.delivery_sweep(requeue=queued, include_queued=True)
    assert queued == [delivery.pk]


def test_a_delivery_that_keeps_dying_fails_visibly(support: Any, agent: Any, settings: Any) -> None:
    settings.HELPDESK_DELIVERY_MAX_ATTEMPTS = 4
    delivery = email_reply(support, agent)
    left_sending(delivery, attempts=4)
    queued = Queued()
    with django_capture_on_commit():
        result = recovery.delivery_sweep(requeue=queued)
    assert queued == [] and result.deliveries_failed == [delivery.pk]
    delivery.refresh_from_db()
    assert delivery.status == "failed" and "gave up after 4 attempts" in delivery.error
    assert TicketEvent.objects.filter(
        ticket=delivery.message.ticket, kind=TicketEvent.Kind.DELIVERY, payload__status="failed"
    ).exists()


def test_a_messaging_reply_with_a_part_in_flight_fails_instead_of_going_twice(
    bot: ChannelAccount,  # noqa: F811
    agent: Any,
) -> None:
    delivery = _reply(bot, agent)
    started = timezone.now() - LONG_AGO
    left_sending(
        delivery,
        parts=[
            {"part": "text:1", "label": "part 1 of 2 of the text", "id": "1400"},
            {"part": "text:2", "label": "part 2 of 2 of the text", "started": started.isoformat()},
        ],
    )
    queued = Queued()
    with django_capture_on_commit():
        result = recovery.delivery_sweep(requeue=queued)
    assert queued == [] and result.deliveries_failed == [delivery.pk]
    delivery.refresh_from_db()
    assert delivery.status == "failed"
    assert "part 2 of 2 of the text" in delivery.error and "may or may not" in delivery.error
    assert "Sent before: part 1 of 2" in delivery.error


@responses.activate
def test_a_messaging_reply_with_nothing_in_flight_resumes_where_it_stopped(
    bot: ChannelAccount,  # noqa: F811
    agent: Any,
) -> None:
    text = ("Word " * 1000).strip()  # two Telegram messages
    delivery = _reply(bot, agent, text=text)
    # the worker died after part 1 was confirmed, before part 2 started
    left_sending(delivery, parts=[{"part": "text:1", "label": "part 1", "id": "1400"}])
    queued = Queued()
    with django_capture_on_commit():
        recovery.delivery_sweep(requeue=queued)
    assert queued == [delivery.pk]
    sent = responses.post(f"{API}/bot{TOKEN}/sendMessage", json=_sent_text(1401))
    delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "sent" and len(sent.calls) == 1  # only part 2


def test_a_telegram_send_records_each_part_as_started_then_confirmed(
    bot: ChannelAccount,  # noqa: F811
    agent: Any,
) -> None:
    delivery = _reply(bot, agent)
    with responses.RequestsMock() as mock:
        mock.post(f"{API}/bot{TOKEN}/sendMessage", json=_sent_text(1400))
        delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    [part] = delivery.parts
    assert part["id"] == "1400" and part["started"]
    assert delivery.status == "sent" and delivery.claimed_at is not None


# pytest-django's `django_capture_on_commit_callbacks` as a plain context manager here
def django_capture_on_commit() -> Any:
    from django.test import TestCase

    return TestCase.captureOnCommitCallbacks(execute=True)


def test_beat_runs_the_sweep_every_minute_from_the_migrations_alone() -> None:
    from django_celery_beat.models import PeriodicTask

    from helpdesk.celery import app

    task = PeriodicTask.objects.get(task="channels_in.tasks.sweep_stuck")
    assert task.enabled and task.interval is not None
    assert (task.interval.every, task.interval.period) == (60, "seconds")
    assert task.queue == "ingest" and task.expire_seconds is not None
    app.loader.import_default_modules()
    assert "channels_in.tasks.sweep_stuck" in app.tasks


def test_a_person_may_retry_a_row_given_up_on_in_the_admin(
    support: Any, admin_user: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from django.urls import reverse

    from helpdesk.celery import app
    from tests.conftest import client_for

    settings.HELPDESK_INBOUND_MAX_ATTEMPTS = 2
    box = email_account(group=support)
    row = stored(box, status=InboundMessage.Status.FAILED, attempts=3, reason="gave up after 2")
    app.conf.task_always_eager = True  # the queued task runs here, on this test's database
    try:
        with django_capture_on_commit_callbacks(execute=True):
            client_for(admin_user).post(
                reverse("admin:channels_in_inboundmessage_changelist"),
                {"action": "reprocess", "_selected_action": [row.pk], "index": 0},
            )
    finally:
        app.conf.task_always_eager = False
    row.refresh_from_db()
    assert (row.status, row.attempts) == (InboundMessage.Status.PROCESSED, 1)

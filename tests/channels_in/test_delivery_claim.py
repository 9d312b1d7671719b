"""`delivery_send` claims, sends outside any transaction, then records: a slow provider holds
no row lock, and a worker killed between the send and the record leaves a delivery the
sweeper resolves by the channel's guarantee (email again, a chat message never twice)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from django.db import connections, transaction

from channels_in import recovery
from channels_in.email.smtp import free_port
from channels_in.models import ChannelAccount, OutboundDelivery
from channels_in.services import delivery_send
from tests.channels_in.mailtools import email_account, ingest, make_mail, subprocess_env
from tests.channels_in.test_telegram import TOKEN, _reply, bot  # noqa: F401
from tests.conftest import ROOT
from tickets import services as ticket_services
from tickets.models import Ticket

pytestmark = pytest.mark.django_db(transaction=True)


class SlowServer:
    """A real SMTP server that takes every message, holding DATA until released."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.in_data = threading.Event()
        self.release = threading.Event()
        self.release.set()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.in_data.set()
        await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 30)
        self.received.append(bytes(envelope.original_content or envelope.content or b""))
        return "250 2.0.0 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[SlowServer, int]]:
    handler = SlowServer()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        handler.release.set()
        controller.stop()


def email_reply(support: Any, agent: Any, port: int) -> OutboundDelivery:
    box = email_account(
        group=support, config={"smtp": {"host": "127.0.0.1", "port": port, "starttls": False}}
    )
    ticket = Ticket.objects.get(pk=ingest(box, make_mail()).ticket_id)
    reply = ticket_services.ticket_reply(ticket=ticket, author=agent, text="On its way.")
    return OutboundDelivery.objects.get(message=reply)


def test_a_slow_smtp_server_holds_no_lock_on_the_delivery(
    support: Any, agent: Any, smtp: tuple[SlowServer, int]
) -> None:
    server, port = smtp
    delivery = email_reply(support, agent, port)
    server.release.clear()
    outcome: list[Any] = []

    def send() -> None:
        try:
            outcome.append(delivery_send(delivery_id=delivery.pk))
        except Exception as exc:  # noqa: BLE001 - shown by the assertion below
            outcome.append(exc)
        finally:
            connections.close_all()

    sender = threading.Thread(target=send)
    sender.start()
    try:
        assert server.in_data.wait(10), "the send never reached the server"
        # while the provider sits on the message, anyone may lock and change the row
        with transaction.atomic():
            row = OutboundDelivery.objects.select_for_update(nowait=True).get(pk=delivery.pk)
            assert row.status == OutboundDelivery.Status.SENDING and row.attempts == 1
            OutboundDelivery.objects.filter(pk=row.pk).update(cc=["boss@customer.test"])
    finally:
        server.release.set()
        sender.join(30)
    [done] = outcome
    assert isinstance(done, OutboundDelivery), done
    delivery.refresh_from_db()
    assert delivery.status == OutboundDelivery.Status.SENT
    assert delivery.cc == ["boss@customer.test"]  # the record did not write over it
    assert len(server.received) == 1


KILL_BEFORE_RECORD = """
import os, signal, sys
import django
django.setup()
import channels_in.services as services

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

services._delivery_record = die  # the provider has it; the worker dies before writing that
"""


def send_and_die(delivery_id: int, script: str = "") -> None:
    code = KILL_BEFORE_RECORD + textwrap.dedent(script)
    code += "\nservices.delivery_send(delivery_id=int(sys.argv[1]))\n"
    process = subprocess.run(
        [sys.executable, "-c", code, str(delivery_id)],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        timeout=60,
    )
    assert process.returncode == -signal.SIGKILL, process.stderr.decode()[-3000:]


class Queued(list[int]):
    def __call__(self, row_id: int) -> None:
        self.append(row_id)


def test_an_email_sent_by_a_worker_that_died_before_recording_it_goes_again_with_its_id(
    support: Any, agent: Any, smtp: tuple[SlowServer, int]
) -> None:
    server, port = smtp
    delivery = email_reply(support, agent, port)
    send_and_die(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == OutboundDelivery.Status.SENDING and len(server.received) == 1
    queued = Queued()
    recovery.delivery_sweep(older_than=timedelta(0), requeue=queued)
    assert queued == [delivery.pk]
    delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == OutboundDelivery.Status.SENT and delivery.attempts == 2
    # at least once: the copy carries the same Message-ID, by which mail systems know it
    ids = {message_from_bytes(raw)["Message-ID"] for raw in server.received}
    assert len(server.received) == 2 and ids == {delivery.message.external_id}


TELEGRAM = """
import responses
mock = responses.RequestsMock(assert_all_requests_are_fired=False)
mock.start()
"""


def telegram_reply(account: ChannelAccount, agent: Any) -> OutboundDelivery:
    return _reply(account, agent, text="It ships today.")


SENT = (
    '{"ok": true, "result": {"message_id": 1400, "chat": {"id": 1111111, "type": "private"}, '
    '"date": 1763900100, "text": "It ships today."}}'
)


def test_a_chat_message_confirmed_before_the_crash_is_not_sent_again(
    bot: ChannelAccount,  # noqa: F811
    agent: Any,
) -> None:
    delivery = telegram_reply(bot, agent)
    send_and_die(
        delivery.pk,
        TELEGRAM + f"mock.post('https://api.telegram.org/bot{TOKEN}/sendMessage', "
        f"body={SENT!r}, content_type='application/json')\n",
    )
    delivery.refresh_from_db()
    assert delivery.status == OutboundDelivery.Status.SENDING
    assert delivery.parts[0]["id"] == "1400"  # committed the moment Telegram took it
    queued = Queued()
    recovery.delivery_sweep(older_than=timedelta(0), requeue=queued)
    assert queued == [delivery.pk]
    delivery_send(delivery_id=delivery.pk)  # no HTTP mock here: any call would fail
    delivery.refresh_from_db()
    assert delivery.status == OutboundDelivery.Status.SENT
    assert delivery.provider_id == "1111111:1400"


def test_a_chat_message_in_flight_at_the_crash_fails_visibly_and_is_not_sent_twice(
    bot: ChannelAccount,  # noqa: F811
    agent: Any,
) -> None:
    delivery = telegram_reply(bot, agent)
    # killed while Telegram has the request: no answer, no record
    send_and_die(
        delivery.pk,
        TELEGRAM + "mock.add_callback('POST', "
        f"'https://api.telegram.org/bot{TOKEN}/sendMessage', "
        "callback=lambda request: die())\n",
    )
    delivery.refresh_from_db()
    assert delivery.status == OutboundDelivery.Status.SENDING
    queued = Queued()
    result = recovery.delivery_sweep(older_than=timedelta(0), requeue=queued)
    assert queued == [] and result.deliveries_failed == [delivery.pk]
    delivery.refresh_from_db()
    assert delivery.status == OutboundDelivery.Status.FAILED
    assert "may or may not have reached the customer" in delivery.error

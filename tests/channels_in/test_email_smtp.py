"""The SMTP/LMTP listener, spoken to with smtplib: 250 only after commit, 550 for strangers,
552 over the size limit, 451 when the database refuses, routing by recipient."""

from __future__ import annotations

import signal
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from channels_in.email.smtp import InboundController, free_port
from channels_in.models import ChannelAccount, InboundMessage
from channels_in.services import inbound_process
from tests.channels_in.mailtools import email_account, make_mail, subprocess_env
from tests.conftest import ROOT
from tickets.models import Ticket

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def support_box(support: Any, billing: Any) -> ChannelAccount:
    return email_account(
        group=support, config={"routing": [{"address": "billing@desk.test", "group": billing.pk}]}
    )


@pytest.fixture
def listener() -> Iterator[InboundController]:
    controller = InboundController(hostname="127.0.0.1", port=free_port(), max_bytes=20_000)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


def connect(controller: InboundController) -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", controller.port, timeout=10)
    client.ehlo("mx.customer.test")
    return client


def test_it_answers_250_only_once_the_raw_message_is_committed(
    support_box: ChannelAccount, listener: InboundController
) -> None:
    raw = make_mail()
    with connect(listener) as client:
        assert client.mail("pat@customer.test")[0] == 250
        assert client.rcpt("Support@Desk.Test")[0] == 250  # case-insensitive
        code, reply = client.data(raw)
    assert code == 250, reply
    inbound_id = int(reply.decode().rsplit("#", 1)[1])
    inbound = InboundMessage.objects.get(pk=inbound_id)  # committed: another connection sees it
    assert inbound.account_id == support_box.pk
    stored = bytes(inbound.raw)
    assert stored.startswith(
        b"Return-Path: <pat@customer.test>\r\nDelivered-To: Support@Desk.Test\r\n"
    )
    assert stored.endswith(raw)
    assert inbound_process(inbound_id=inbound.pk).status == InboundMessage.Status.PROCESSED


def test_it_refuses_unknown_recipients_with_550(
    support_box: ChannelAccount, listener: InboundController
) -> None:
    with connect(listener) as client:
        client.mail("pat@customer.test")
        code, reply = client.rcpt("nobody@desk.test")
        assert code == 550 and b"no such mailbox" in reply
        client.rset()
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            client.sendmail("pat@customer.test", ["sales@elsewhere.test"], make_mail())
    assert InboundMessage.objects.count() == 0


def test_it_routes_an_alias_to_its_group_and_ignores_plus_tags(
    support_box: ChannelAccount, listener: InboundController, billing: Any
) -> None:
    raw = make_mail(to="Accounts <accounts@partner.test>", message_id="<bill@customer.test>")
    with connect(listener) as client:
        refused = client.sendmail("pat@customer.test", ["billing+invoices@desk.test"], raw)
    assert refused == {}
    inbound = InboundMessage.objects.get()
    assert inbound.account_id == support_box.pk
    processed = inbound_process(inbound_id=inbound.pk)
    assert Ticket.objects.get(pk=processed.ticket_id).group_id == billing.pk


def test_it_refuses_a_message_over_the_size_limit(
    support_box: ChannelAccount, listener: InboundController
) -> None:
    with connect(listener) as client:
        assert client.has_extn("size") and client.esmtp_features["size"] == "20000"
        client.mail("pat@customer.test")
        client.rcpt("support@desk.test")
        code, _ = client.data(make_mail(body="x" * 30_000))
    assert code == 552
    assert InboundMessage.objects.count() == 0


def test_it_answers_451_when_the_database_refuses_and_stores_nothing(
    support_box: ChannelAccount, listener: InboundController
) -> None:
    with connection.cursor() as cursor:
        cursor.execute("""
            CREATE FUNCTION refuse_inbound() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION 'disk full'; END $$ LANGUAGE plpgsql;
            CREATE TRIGGER refuse_inbound BEFORE INSERT ON channels_in_inboundmessage
            FOR EACH ROW EXECUTE FUNCTION refuse_inbound();
        """)
    try:
        with connect(listener) as client:
            client.mail("pat@customer.test")
            client.rcpt("support@desk.test")
            code, reply = client.data(make_mail())
        assert code == 451, reply
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "DROP TRIGGER refuse_inbound ON channels_in_inboundmessage;"
                "DROP FUNCTION refuse_inbound();"
            )
    assert InboundMessage.objects.count() == 0
    with connect(listener) as client:  # the sender's retry goes through
        assert client.sendmail("pat@customer.test", ["support@desk.test"], make_mail()) == {}
    assert InboundMessage.objects.count() == 1


def _lmtp_dialogue(port: int, recipients: list[str], raw: bytes) -> list[bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        reader = sock.makefile("rb")

        def reply() -> bytes:
            lines = []
            while True:
                line = reader.readline()
                lines.append(line)
                if line[3:4] != b"-":
                    return b"".join(lines)

        reply()  # greeting
        sock.sendall(b"LHLO mx.test\r\n")
        reply()
        sock.sendall(b"MAIL FROM:<pat@customer.test>\r\n")
        reply()
        for rcpt in recipients:
            sock.sendall(f"RCPT TO:<{rcpt}>\r\n".encode())
            reply()
        sock.sendall(b"DATA\r\n")
        reply()
        sock.sendall(raw.replace(b"\r\n.", b"\r\n..") + b"\r\n.\r\n")
        return [reply() for _ in recipients]


def test_in_lmtp_mode_it_answers_once_per_recipient(
    support_box: ChannelAccount, billing: Any
) -> None:
    controller = InboundController(hostname="127.0.0.1", port=free_port(), lmtp=True)
    controller.start()
    try:
        replies = _lmtp_dialogue(
            controller.port, ["support@desk.test", "billing@desk.test"], make_mail()
        )
    finally:
        controller.stop()
    assert [r[:3] for r in replies] == [b"250", b"250"]
    assert InboundMessage.objects.count() == 1  # one copy, both recipients in Delivered-To
    assert bytes(InboundMessage.objects.get().raw).count(b"Delivered-To:") == 2


def test_the_smtp_listener_command_runs_until_terminated(support_box: ChannelAccount) -> None:
    port = free_port()
    env = subprocess_env()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "smtp_listener", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                client = smtplib.SMTP("127.0.0.1", port, timeout=10)
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
        with client:
            assert client.sendmail("pat@customer.test", ["support@desk.test"], make_mail()) == {}
        assert InboundMessage.objects.filter(account=support_box).count() == 1
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=20)[0].decode()
    assert process.returncode == 0, output
    assert f"SMTP listener on 127.0.0.1:{port}" in output

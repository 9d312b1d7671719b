"""Real email bytes through the real pipeline: store raw, normalise, thread, reply, thread back."""

from __future__ import annotations

import hashlib
import time
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import override_settings

from channels_in.models import ChannelAccount, ChannelKind, InboundMessage, OutboundDelivery
from channels_in.services import delivery_send, inbound_process, inbound_store
from tickets import services
from tickets.models import Message, Ticket

LOCMEM = "django.core.mail.backends.locmem.EmailBackend"


def corpus_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "email").rglob("*") if p.is_file())


@pytest.fixture
def mailbox(support: Any) -> ChannelAccount:
    return ChannelAccount.objects.create(
        kind=ChannelKind.EMAIL, name="support", address="support@desk.test", group=support
    )


def ingest(account: ChannelAccount, raw: bytes) -> InboundMessage:
    stored = inbound_store(account=account, external_id="", raw=raw, process=False)
    return inbound_process(inbound_id=stored.inbound.pk)


def customer_mail(
    *,
    sender: str = "Pat Customer <pat@customer.test>",
    subject: str = "Order 1234 never arrived",
    body: str = "Hello, my order has not arrived after two weeks.",
    message_id: str = "<a1@customer.test>",
    extra: str = "",
) -> bytes:
    return (
        f"From: {sender}\r\nTo: support@desk.test\r\nSubject: {subject}\r\n"
        f"Message-ID: {message_id}\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n{extra}"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


@pytest.mark.django_db
def test_it_ingests_every_corpus_file_into_a_ticket_or_a_recorded_reason(
    mailbox: ChannelAccount, corpus_dir: Path
) -> None:
    files = corpus_files(corpus_dir)
    assert len(files) > 150
    outcomes: dict[str, int] = {}
    for path in files:
        inbound = ingest(mailbox, path.read_bytes())
        outcomes[inbound.status] = outcomes.get(inbound.status, 0) + 1
        assert inbound.status != InboundMessage.Status.RECEIVED, path
        assert inbound.reason, f"{path}: no recorded reason"
        if inbound.status == InboundMessage.Status.PROCESSED:
            message = Message.objects.get(pk=inbound.message_id)
            assert message.ticket_id == inbound.ticket_id
    # every file stored raw; byte-identical files (the suites share a few) are one delivery
    distinct = {hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    assert InboundMessage.objects.count() == len(distinct)
    assert outcomes.get(InboundMessage.Status.PROCESSED, 0) > len(files) * 0.7, outcomes
    stored = InboundMessage.objects.order_by("id").first()
    assert stored is not None and bytes(stored.raw) == files[0].read_bytes()


@pytest.mark.django_db
def test_it_stores_and_threads_a_duplicate_delivery_once(mailbox: ChannelAccount) -> None:
    raw = customer_mail()
    first = ingest(mailbox, raw)
    second = ingest(mailbox, raw)
    assert first.pk == second.pk
    assert InboundMessage.objects.count() == 1
    assert Message.objects.count() == 1
    # the same Message-ID arriving again with other bytes (a relay added a header)
    relayed = ingest(mailbox, b"Received: from relay.test\r\n" + raw)
    assert relayed.pk != first.pk
    assert relayed.reason == "already threaded (duplicate delivery)"
    assert Message.objects.count() == 1


@pytest.mark.django_db
def test_it_processes_a_stored_message_twice_without_change(mailbox: ChannelAccount) -> None:
    stored = inbound_store(account=mailbox, external_id="", raw=customer_mail(), process=False)
    inbound_process(inbound_id=stored.inbound.pk)
    InboundMessage.objects.filter(pk=stored.inbound.pk).update(status="received")  # crash replay
    again = inbound_process(inbound_id=stored.inbound.pk)
    assert again.status == InboundMessage.Status.PROCESSED
    assert Message.objects.count() == 1 and Ticket.objects.count() == 1


@pytest.mark.django_db
@override_settings(EMAIL_BACKEND=LOCMEM)
def test_it_sends_a_reply_whose_headers_thread_the_customer_answer_back(
    mailbox: ChannelAccount, agent: Any, django_capture_on_commit_callbacks: Any
) -> None:
    inbound = ingest(mailbox, customer_mail())
    ticket = Ticket.objects.get(pk=inbound.ticket_id)
    assert ticket.group_id == mailbox.group_id and ticket.channel == "email"

    reply = services.ticket_reply(ticket=ticket, author=agent, text="Sorry! It ships today.")
    delivery = OutboundDelivery.objects.get(message=reply)
    assert delivery.recipient == "pat@customer.test"
    delivery_send(delivery_id=delivery.pk)
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    raw_sent = sent.message().as_bytes()
    parsed = message_from_bytes(raw_sent, policy=default_policy)
    assert parsed["In-Reply-To"] == "<a1@customer.test>"
    assert parsed["Message-ID"] == reply.external_id
    assert f"[ref:{ticket.reply_token}]" in parsed["Subject"]
    assert parsed["To"] == "pat@customer.test"

    answer = customer_mail(
        subject=f"Re: {parsed['Subject']}",
        body="Thanks, received it.\r\n\r\n> Sorry!",
        message_id="<a2@customer.test>",
        extra=f"In-Reply-To: {parsed['Message-ID']}\r\nReferences: <a1@customer.test> {parsed['Message-ID']}\r\n",
    )
    second = ingest(mailbox, answer)
    assert second.ticket_id == ticket.pk
    ticket.refresh_from_db()
    assert ticket.message_count == 3
    assert ticket.status == Ticket.Status.OPEN  # the customer answered a pending ticket
    assert OutboundDelivery.objects.get(pk=delivery.pk).status == OutboundDelivery.Status.SENT


@pytest.mark.django_db
def test_it_never_lets_a_stranger_use_a_ticket_token(mailbox: ChannelAccount) -> None:
    first = ingest(mailbox, customer_mail())
    ticket = Ticket.objects.get(pk=first.ticket_id)
    spoof = customer_mail(
        sender="Mallory <mallory@evil.test>",
        subject=f"Re: hello [ref:{ticket.reply_token}]",
        message_id="<m1@evil.test>",
    )
    result = ingest(mailbox, spoof)
    assert result.ticket_id != ticket.pk  # a new ticket for the stranger
    by_number = customer_mail(
        sender="Mallory <mallory@evil.test>",
        subject=f"Re: ticket #{ticket.number}",
        message_id="<m2@evil.test>",
    )
    assert ingest(mailbox, by_number).ticket_id != ticket.pk


@pytest.mark.django_db
def test_it_flags_a_reply_by_reference_from_a_non_participant(mailbox: ChannelAccount) -> None:
    first = ingest(mailbox, customer_mail())
    spoof = customer_mail(
        sender="Mallory <mallory@evil.test>",
        subject="Re: Order 1234 never arrived",
        message_id="<m3@evil.test>",
        extra="In-Reply-To: <a1@customer.test>\r\n",
    )
    result = ingest(mailbox, spoof)
    assert result.ticket_id == first.ticket_id
    message = Message.objects.get(pk=result.message_id)
    assert "not a participant" in message.flag
    ticket = Ticket.objects.get(pk=first.ticket_id)
    assert ticket.contact.identities.get().value == "pat@customer.test"


@pytest.mark.django_db
def test_it_records_an_auto_reply_that_answers_nothing_without_a_ticket(
    mailbox: ChannelAccount,
) -> None:
    auto = customer_mail(subject="Out of Office", extra="Auto-Submitted: auto-replied\r\n")
    inbound = ingest(mailbox, auto)
    assert inbound.status == InboundMessage.Status.IGNORED
    assert "auto-reply" in inbound.reason
    assert Ticket.objects.count() == 0


@pytest.mark.django_db
def test_the_ingest_email_command_prints_a_line_per_input_and_a_total(
    mailbox: ChannelAccount, tmp_path: Path, capsys: Any
) -> None:
    (tmp_path / "one.eml").write_bytes(customer_mail())
    (tmp_path / "two.eml").write_bytes(
        customer_mail(message_id="<a9@customer.test>", subject="Refund")
    )
    (tmp_path / "broken.eml").write_bytes(b"")
    call_command("ingest_email", str(tmp_path), "--account", "support")
    out = capsys.readouterr().out.splitlines()
    assert any(line.startswith(str(tmp_path / "one.eml")) and "ticket #" in line for line in out)
    assert any("broken.eml" in line and "failed" in line for line in out)
    assert out[-1].startswith("total: 3")
    call_command("ingest_email", str(tmp_path / "one.eml"), "--account", "support")
    assert "duplicate" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_it_ingests_through_a_real_celery_worker_on_redis(support: Any, live_worker: Any) -> None:
    account = ChannelAccount.objects.create(kind=ChannelKind.EMAIL, name="live", group=support)
    stored = inbound_store(account=account, external_id="", raw=customer_mail())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        stored.inbound.refresh_from_db()
        if stored.inbound.status != InboundMessage.Status.RECEIVED:
            break
        time.sleep(0.1)
    assert stored.inbound.status == InboundMessage.Status.PROCESSED
    assert Ticket.objects.filter(pk=stored.inbound.ticket_id, group=support).exists()

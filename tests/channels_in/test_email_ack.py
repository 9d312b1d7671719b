"""Acknowledgements: once per new ticket, never to machines or mailing lists, rate-limited per
recipient, marked as automatic. Tasks run for real: eagerly here, through a worker at the end."""

from __future__ import annotations

import time
from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.test import override_settings

from channels_in.email.ack import acknowledgement_send
from channels_in.models import ChannelAccount, InboundMessage, OutboundDelivery
from channels_in.services import inbound_store
from helpdesk.celery import app
from tests.channels_in.mailtools import email_account, ingest, make_mail
from tickets.models import Message, Ticket

LOCMEM = "django.core.mail.backends.locmem.EmailBackend"
ACK = {
    "ack_enabled": True,
    "ack_template": "Hello {{ name }}, your request is ticket #{{ ticket.number }}.",
}


@pytest.fixture
def eager() -> Iterator[None]:
    """Queued tasks run at once, in this process: the real task code, no broker."""
    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    try:
        with override_settings(EMAIL_BACKEND=LOCMEM):
            yield
    finally:
        app.conf.task_always_eager, app.conf.task_eager_propagates = saved


@pytest.fixture
def box(support: Any) -> ChannelAccount:
    return email_account(group=support, config=ACK)


def ingest_and_react(account: ChannelAccount, raw: bytes, capture: Any) -> InboundMessage:
    with capture(execute=True):
        return ingest(account, raw)


@pytest.mark.django_db
def test_it_acknowledges_a_new_ticket_once(
    box: ChannelAccount, eager: None, django_capture_on_commit_callbacks: Any
) -> None:
    first = ingest_and_react(box, make_mail(), django_capture_on_commit_callbacks)
    ticket = Ticket.objects.get(pk=first.ticket_id)
    assert len(mail.outbox) == 1
    sent = message_from_bytes(mail.outbox[0].message().as_bytes(), policy=default_policy)
    assert sent["To"] == "pat@customer.test" and sent["Cc"] is None
    assert sent["Auto-Submitted"] == "auto-replied"
    assert sent["X-Auto-Response-Suppress"] == "All"
    assert sent["In-Reply-To"] == "<a1@customer.test>"
    assert f"[ref:{ticket.reply_token}]" in sent["Subject"]
    assert f"your request is ticket #{ticket.number}" in sent.get_body(("plain",)).get_content()
    ack = Message.objects.get(ticket=ticket, kind=Message.Kind.SYSTEM)
    assert ack.external_id == sent["Message-ID"] and ack.is_automatic
    delivery = OutboundDelivery.objects.get(message=ack)
    assert delivery.status == OutboundDelivery.Status.SENT
    assert delivery.idempotency_key == f"auto-ack-{ticket.pk}"

    # the customer's follow-up, a duplicate delivery, a retried task: no second acknowledgement
    ingest_and_react(
        box,
        make_mail(message_id="<a2@customer.test>", in_reply_to=sent["Message-ID"], subject="Re: x"),
        django_capture_on_commit_callbacks,
    )
    ingest_and_react(box, make_mail(), django_capture_on_commit_callbacks)
    assert (
        acknowledgement_send(ticket_id=ticket.pk, message_id=first.message_id)
        == "skipped: already acknowledged"
    )
    assert len(mail.outbox) == 1
    assert Ticket.objects.count() == 1


CORPUS_BOUNCE = "flanker/bounce_gmail-invalid-address.eml"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "kind, raw",
    [
        (
            "auto-reply",
            make_mail(
                subject="Out of office",
                references="<old@desk.test>",
                headers={"Auto-Submitted": "auto-replied"},
            ),
        ),
        (
            "X-Autoreply",
            make_mail(
                subject="Thanks for your mail",
                references="<old@desk.test>",
                headers={"X-Autoreply": "yes"},
            ),
        ),
        ("bulk", make_mail(subject="Newsletter", headers={"Precedence": "bulk"})),
        (
            "mailing list",
            make_mail(
                subject="[users] question", headers={"List-Id": "Users <users.lists.example.org>"}
            ),
        ),
        ("no-reply sender", make_mail(sender="Shop <no-reply@shop.test>", subject="Your order")),
        ("our own address", make_mail(sender="support@desk.test", subject="Loop?")),
        ("corpus bounce", None),
    ],
)
def test_it_never_acknowledges_machines_lists_or_itself(
    box: ChannelAccount,
    eager: None,
    django_capture_on_commit_callbacks: Any,
    corpus_dir: Path,
    kind: str,
    raw: bytes | None,
) -> None:
    raw = raw or (corpus_dir / "email" / CORPUS_BOUNCE).read_bytes()
    inbound = ingest_and_react(box, raw, django_capture_on_commit_callbacks)
    assert inbound.status != InboundMessage.Status.FAILED, inbound.reason
    assert mail.outbox == []
    assert not OutboundDelivery.objects.exists()
    if inbound.message_id:
        message = Message.objects.get(pk=inbound.message_id)
        assert acknowledgement_send(ticket_id=message.ticket_id, message_id=message.pk).startswith(
            "skipped:"
        )


@pytest.mark.django_db
def test_it_sends_no_more_than_three_automatic_mails_per_recipient_an_hour(
    box: ChannelAccount, eager: None, django_capture_on_commit_callbacks: Any
) -> None:
    for n in range(5):
        ingest_and_react(
            box,
            make_mail(subject=f"Problem {n}", message_id=f"<p{n}@customer.test>"),
            django_capture_on_commit_callbacks,
        )
    assert Ticket.objects.count() == 5
    assert len(mail.outbox) == 3
    # another customer is not held back by Pat's limit
    ingest_and_react(
        box,
        make_mail(sender="quinn@customer.test", message_id="<q@customer.test>"),
        django_capture_on_commit_callbacks,
    )
    assert len(mail.outbox) == 4 and mail.outbox[-1].to == ["quinn@customer.test"]
    # an hour later the limit has room again
    OutboundDelivery.objects.update(
        created_at=OutboundDelivery.objects.first().created_at
        - __import__("datetime").timedelta(hours=1, minutes=1)
    )
    ingest_and_react(
        box,
        make_mail(subject="Problem 6", message_id="<p6@customer.test>"),
        django_capture_on_commit_callbacks,
    )
    assert len(mail.outbox) == 5


@pytest.mark.django_db
def test_an_account_with_acknowledgements_off_sends_none(
    support: Any, eager: None, django_capture_on_commit_callbacks: Any
) -> None:
    quiet = email_account(group=support, config={})
    inbound = ingest_and_react(quiet, make_mail(), django_capture_on_commit_callbacks)
    assert inbound.status == InboundMessage.Status.PROCESSED
    assert mail.outbox == []


@pytest.mark.django_db(transaction=True)
@override_settings(EMAIL_BACKEND=LOCMEM)
def test_the_acknowledgement_leaves_through_a_real_worker(support: Any, live_worker: Any) -> None:
    account = email_account(name="live", group=support, config=ACK)
    inbound_store(account=account, external_id="", raw=make_mail())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not mail.outbox:
        time.sleep(0.1)
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["pat@customer.test"]
    assert mail.outbox[0].extra_headers["Auto-Submitted"] == "auto-replied"

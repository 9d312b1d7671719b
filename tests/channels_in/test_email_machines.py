"""Machines never get an answer, and their reports never become tickets.

The fixtures in `bounces/` are written in the shapes real systems send (Postfix, Exim,
Sendmail, qmail, Exchange Online, Gmail, Yahoo, Amazon SES through SNS, a Japanese ISP's
ISO-2022-JP notice, an ARF feedback loop, an fml list server, a list manager's loop alert, a
post_master@ report), with placeholders for the outbound message they are about. Each runs
through the real pipeline (store, the ingest task, the acknowledgement task, delivery) with
acknowledgements on, and the outbound acknowledgements are counted.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.test import override_settings

from channels_in.email.parser import parse_email
from channels_in.models import ChannelAccount, InboundMessage, OutboundDelivery
from channels_in.services import inbound_store
from helpdesk.celery import app
from tests.channels_in.mailtools import email_account, make_mail
from tickets import services
from tickets.models import Message, Ticket, TicketEvent

FIXTURES = Path(__file__).parent / "bounces"
CUSTOMER = "pat@customer.test"
PASSED = "mx.desk.test; dmarc=pass header.from=customer.test"
ACK = {"ack_enabled": True, "trusted_authserv_ids": ["mx.desk.test"]}

# fixture -> what it is about our reply: "failed" or "delayed"
BOUNCES = {
    "postfix.eml": "failed",
    "exim.eml": "failed",
    "sendmail.eml": "failed",
    "sendmail_delayed.eml": "delayed",
    "qmail.eml": "failed",
    "yahoo.eml": "failed",
    "exchange_ndr.eml": "failed",
    "gmail.eml": "failed",
    "ses_sns_bounce.eml": "failed",
    "japanese_iso2022jp.eml": "failed",
    "post_master_bounce.eml": "failed",
}
# fixture -> words of the reason it is stored for, never a ticket
IGNORED = {
    "arf_abuse_report.eml": "abuse complaint (ARF feedback report, abuse)",
    "list_server_error.eml": "mailing-list server",
    "loop_alert.eml": "loop alert",
}


@pytest.fixture
def eager() -> Iterator[None]:
    """Queued tasks run at once, in this process: the real task code, no broker."""
    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    try:
        with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
            yield
    finally:
        app.conf.task_always_eager, app.conf.task_eager_propagates = saved


def acknowledgements() -> int:
    return OutboundDelivery.objects.filter(idempotency_key__startswith="auto-").count()


def outbound() -> list[Any]:
    """Mail that left for the outside world: not the agents' own notification emails (a
    bounce tells the reply's agent, which is no answer to the machine)."""
    return [m for m in mail.outbox if "X-Helpdesk-Notification" not in m.extra_headers]


def agent_notices() -> list[Any]:
    return [m for m in mail.outbox if "X-Helpdesk-Notification" in m.extra_headers]


class Desk:
    """A mailbox with one ticket whose acknowledgement and agent reply went out."""

    def __init__(self, account: ChannelAccount, capture: Any, agent: Any) -> None:
        self.account, self.capture = account, capture
        first = self.receive(make_mail(headers={"Authentication-Results": PASSED}))
        self.ticket = Ticket.objects.get(pk=first.ticket_id)
        assert acknowledgements() == 1
        with capture(execute=True):
            self.reply = services.ticket_reply(ticket=self.ticket, author=agent, text="Tracking.")
        self.delivery = OutboundDelivery.objects.get(message=self.reply)
        assert self.delivery.status == OutboundDelivery.Status.SENT
        self.sent = len(outbound())
        assert self.sent == 2

    def receive(self, raw: bytes) -> InboundMessage:
        with self.capture(execute=True):
            stored = inbound_store(account=self.account, external_id="", raw=raw)
        stored.inbound.refresh_from_db()
        return stored.inbound

    def fixture(self, name: str) -> bytes:
        raw = (FIXTURES / name).read_bytes()
        for key, value in (
            ("{{MESSAGE_ID}}", self.delivery.provider_id),
            ("{{RECIPIENT}}", CUSTOMER),
            ("{{RECIPIENT_LOCAL}}", CUSTOMER.split("@")[0]),
            ("{{TOKEN}}", self.ticket.reply_token),
        ):
            raw = raw.replace(key.encode(), value.encode())
        return raw


@pytest.fixture
def desk(support: Any, agent: Any, eager: None, django_capture_on_commit_callbacks: Any) -> Desk:
    return Desk(email_account(group=support, config=ACK), django_capture_on_commit_callbacks, agent)


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(BOUNCES))
def test_a_bounce_marks_our_reply_and_gets_no_answer(desk: Desk, name: str) -> None:
    inbound = desk.receive(desk.fixture(name))
    assert inbound.status == InboundMessage.Status.IGNORED, inbound.reason
    desk.delivery.refresh_from_db()
    event = TicketEvent.objects.filter(ticket=desk.ticket, kind=TicketEvent.Kind.DELIVERY).last()
    if BOUNCES[name] == "failed":
        assert "delivery marked failed" in inbound.reason
        assert desk.delivery.status == OutboundDelivery.Status.FAILED
        assert CUSTOMER in desk.delivery.error
    else:
        assert "still being tried" in inbound.reason
        assert desk.delivery.status == OutboundDelivery.Status.SENT
    assert event.new["status"] == BOUNCES[name] and event.new["message"] == desk.reply.pk
    assert Ticket.objects.count() == 1 and desk.ticket.messages.count() == 3
    assert acknowledgements() == 1 and len(outbound()) == desk.sent
    notices = agent_notices()
    if BOUNCES[name] == "failed":  # the reply's agent hears of it, by email too
        assert [m.extra_headers["X-Helpdesk-Notification"] for m in notices] == ["delivery_failed"]
    else:
        assert notices == []


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(IGNORED))
def test_a_report_or_list_notice_is_stored_with_its_reason_and_never_a_ticket(
    desk: Desk, name: str
) -> None:
    inbound = desk.receive(desk.fixture(name))
    assert inbound.status == InboundMessage.Status.IGNORED
    assert IGNORED[name] in inbound.reason
    assert inbound.ticket_id is None and bytes(inbound.raw) == desk.fixture(name)
    assert Ticket.objects.count() == 1 and desk.ticket.messages.count() == 3
    desk.delivery.refresh_from_db()
    assert desk.delivery.status == OutboundDelivery.Status.SENT  # a complaint is no bounce
    assert acknowledgements() == 1 and len(outbound()) == desk.sent


@pytest.mark.django_db
def test_an_out_of_office_reply_joins_the_ticket_unanswered(desk: Desk) -> None:
    inbound = desk.receive(desk.fixture("out_of_office.eml"))
    assert inbound.status == InboundMessage.Status.PROCESSED and inbound.ticket_id == desk.ticket.pk
    message = Message.objects.get(pk=inbound.message_id)
    assert message.is_automatic
    assert acknowledgements() == 1 and len(outbound()) == desk.sent


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name, reason",
    [
        ("spam_flagged.eml", "marked as spam upstream (x-spam-flag: YES)"),
        ("forged_authentication_results.eml", "sender not authenticated"),
    ],
)
def test_spam_and_forged_authentication_get_a_ticket_but_no_answer(
    desk: Desk, name: str, reason: str
) -> None:
    from channels_in.email.ack import acknowledgement_send

    inbound = desk.receive(desk.fixture(name))
    assert inbound.status == InboundMessage.Status.PROCESSED and inbound.ticket_id != desk.ticket.pk
    assert acknowledgements() == 1 and len(outbound()) == desk.sent
    result = acknowledgement_send(ticket_id=inbound.ticket_id, message_id=inbound.message_id)
    assert reason in result


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["human_forwards_a_bounce.eml", "human_quotes_an_error.eml"])
def test_a_person_writing_about_a_bounce_is_answered(desk: Desk, name: str) -> None:
    inbound = desk.receive(desk.fixture(name))
    assert inbound.status == InboundMessage.Status.PROCESSED and inbound.ticket_id != desk.ticket.pk
    assert acknowledgements() == 2 and len(outbound()) == desk.sent + 1
    desk.delivery.refresh_from_db()
    assert desk.delivery.status == OutboundDelivery.Status.SENT


MACHINES = [*sorted(BOUNCES), *sorted(IGNORED), "out_of_office.eml", "spam_flagged.eml"]


@pytest.mark.django_db
def test_with_authentication_off_still_no_machine_is_answered(
    support: Any, agent: Any, eager: None, django_capture_on_commit_callbacks: Any
) -> None:
    """Classification alone: every machine mail, also as a fresh first message (not about
    any ticket of ours), gets no acknowledgement."""
    account = email_account(group=support, config={**ACK, "ack_requires_auth": False})
    desk = Desk(account, django_capture_on_commit_callbacks, agent)
    for name in MACHINES:
        desk.receive(desk.fixture(name))
    strangers = [
        (FIXTURES / name)
        .read_bytes()
        .replace(b"{{MESSAGE_ID}}", f"<x{n}@elsewhere.test>".encode())
        .replace(b"{{RECIPIENT}}", b"someone@elsewhere.test")
        .replace(b"{{RECIPIENT_LOCAL}}", b"someone")
        .replace(b"{{TOKEN}}", b"AAAAAAAAAAAAAAAA")
        .replace(b"Message-ID: <", f"Message-ID: <{n}.".encode(), 1)
        .replace(b"Message-Id: <", f"Message-Id: <{n}.".encode(), 1)
        for n, name in enumerate(MACHINES)
    ]
    for raw in strangers:
        desk.receive(raw)
    assert acknowledgements() == 1 and len(outbound()) == desk.sent
    answered = Message.objects.filter(kind=Message.Kind.SYSTEM).count()
    assert answered == 1  # the one acknowledgement of the real customer
    assert not InboundMessage.objects.filter(status=InboundMessage.Status.FAILED).exists()


@pytest.mark.parametrize("name", sorted(BOUNCES))
def test_the_parser_reads_each_bounce_by_structure(name: str) -> None:
    raw = (FIXTURES / name).read_bytes().replace(b"{{RECIPIENT}}", CUSTOMER.encode())
    raw = raw.replace(b"{{MESSAGE_ID}}", b"<hd.QwErTyUiOpAsDfGh.1@desk.test>")
    parsed = parse_email(raw)
    assert parsed.is_bounce and parsed.classified_by
    assert parsed.bounce_status == BOUNCES[name]
    assert CUSTOMER in parsed.bounce_recipients
    assert "<hd.QwErTyUiOpAsDfGh.1@desk.test>" in parsed.bounced_message_ids
    assert parsed.machine_sender


def test_the_japanese_notice_decodes() -> None:
    parsed = parse_email((FIXTURES / "japanese_iso2022jp.eml").read_bytes())
    assert parsed.subject == "【重要】配信不能のお知らせ"
    assert parsed.from_name == "メール配信システム" and parsed.machine_sender == "postmaster"
    assert "配信できませんでした" in parsed.text

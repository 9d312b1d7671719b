"""Delivery-status reports, in the structure real MTAs send (corpus files with our own
Message-ID put where the original's was): a failure marks our delivery failed and shows on the
ticket; a delay report does not; a report about someone else's mail changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.test import override_settings

from channels_in.models import ChannelAccount, InboundMessage, OutboundDelivery
from channels_in.services import delivery_send
from tests.channels_in.mailtools import email_account, ingest, make_mail
from tickets import services
from tickets.models import Message, Ticket, TicketEvent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("locmem")]

# corpus file -> the original Message-ID its report quotes
REPORTS = {
    "mail-ruby/multipart_report_emails_report_530.eml": b"<200712232303.lBNN3jDq002941@mail12.rrrr.com.au>",  # multipart/report, failed
    "flanker/bounce_gmail-invalid-address.eml": b"<CAKsfaBUUGqVZiaMrmH3TRPfq1odQPtM7Ey5YW1SgyJJRHtAjgw@mail.gmail.com>",  # Gmail, inline
    "flanker/bounce_office365.eml": b"<20171013111011.20866.254C2F3A4D7AA526@ninomail.com>",  # Exchange Online
}
DELAYED = (
    "mail-ruby/multipart_report_emails_report_422.eml",
    b"<15655788.13.1200472642578.JavaMail.Administrator@mail.ttttt.com.au>",
)


@pytest.fixture
def locmem() -> Any:
    with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
        yield


@pytest.fixture
def box(support: Any) -> ChannelAccount:
    return email_account(group=support, config={"ack_enabled": True})


def sent_reply(box: ChannelAccount, agent: Any) -> tuple[Ticket, OutboundDelivery]:
    ticket = Ticket.objects.get(pk=ingest(box, make_mail()).ticket_id)
    reply = services.ticket_reply(ticket=ticket, author=agent, text="Here is your tracking code.")
    delivery = delivery_send(delivery_id=OutboundDelivery.objects.get(message=reply).pk)
    assert delivery.status == OutboundDelivery.Status.SENT
    assert mail.outbox[-1].extra_headers["Message-ID"] == reply.external_id
    return ticket, delivery


def report(corpus_dir: Path, name: str, original: bytes, ours: str) -> bytes:
    raw = (corpus_dir / "email" / name).read_bytes()
    assert original in raw, name
    return raw.replace(original, ours.encode())


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_a_bounce_marks_our_delivery_failed_and_shows_on_the_ticket(
    box: ChannelAccount, agent: Any, corpus_dir: Path, name: str
) -> None:
    ticket, delivery = sent_reply(box, agent)
    inbound = ingest(box, report(corpus_dir, name, REPORTS[name], delivery.provider_id))
    assert inbound.status == InboundMessage.Status.IGNORED
    assert "delivery marked failed" in inbound.reason and delivery.provider_id in inbound.reason
    delivery.refresh_from_db()
    assert delivery.status == OutboundDelivery.Status.FAILED
    assert delivery.error.startswith("bounced") and f"inbound #{inbound.pk}" in delivery.error
    event = TicketEvent.objects.filter(ticket=ticket, kind=TicketEvent.Kind.DELIVERY).last()
    assert event.new["status"] == "failed" and event.new["message"] == delivery.message_id
    assert Ticket.objects.count() == 1  # the report is no new ticket
    assert Message.objects.filter(ticket=ticket).count() == 2  # and no message on this one
    assert len(mail.outbox) == 1  # and never acknowledged


def test_a_delay_report_keeps_the_delivery_and_notes_the_delay(
    box: ChannelAccount, agent: Any, corpus_dir: Path
) -> None:
    ticket, delivery = sent_reply(box, agent)
    inbound = ingest(box, report(corpus_dir, *DELAYED, delivery.provider_id))
    assert inbound.status == InboundMessage.Status.IGNORED and "still being tried" in inbound.reason
    delivery.refresh_from_db()
    assert delivery.status == OutboundDelivery.Status.SENT
    event = TicketEvent.objects.filter(ticket=ticket, kind=TicketEvent.Kind.DELIVERY).last()
    assert event.new["status"] == "delayed"


def test_a_bounce_for_mail_we_never_sent_changes_nothing(
    box: ChannelAccount, agent: Any, corpus_dir: Path
) -> None:
    _, delivery = sent_reply(box, agent)
    name = "mail-ruby/multipart_report_emails_report_530.eml"
    inbound = ingest(box, (corpus_dir / "email" / name).read_bytes())
    assert inbound.status == InboundMessage.Status.IGNORED
    assert inbound.reason == "bounce or delivery report matching none of our messages"
    delivery.refresh_from_db()
    assert delivery.status == OutboundDelivery.Status.SENT

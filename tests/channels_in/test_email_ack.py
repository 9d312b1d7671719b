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
    "trusted_authserv_ids": ["mx.desk.test"],
}
# what the desk's own receiving server writes on mail that passed DMARC
PASSED = "mx.desk.test; spf=pass smtp.mailfrom=customer.test; dmarc=pass header.from=customer.test"


def authenticated_mail(**kwargs: Any) -> bytes:
    """A customer's mail as our receiving server hands it over: authenticated."""
    kwargs["headers"] = {"Authentication-Results": PASSED, **(kwargs.get("headers") or {})}
    return make_mail(**kwargs)


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
    first = ingest_and_react(box, authenticated_mail(), django_capture_on_commit_callbacks)
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
        authenticated_mail(
            message_id="<a2@customer.test>", in_reply_to=sent["Message-ID"], subject="Re: x"
        ),
        django_capture_on_commit_callbacks,
    )
    ingest_and_react(box, authenticated_mail(), django_capture_on_commit_callbacks)
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
            authenticated_mail(
                subject="Out of office",
                references="<old@desk.test>",
                headers={"Auto-Submitted": "auto-replied"},
            ),
        ),
        (
            "X-Autoreply",
            authenticated_mail(
                subject="Thanks for your mail",
                references="<old@desk.test>",
                headers={"X-Autoreply": "yes"},
            ),
        ),
        ("bulk", authenticated_mail(subject="Newsletter", headers={"Precedence": "bulk"})),
        (
            "mailing list",
            authenticated_mail(
                subject="[users] question", headers={"List-Id": "Users <users.lists.example.org>"}
            ),
        ),
        (
            "no-reply sender",
            authenticated_mail(sender="Shop <no-reply@shop.test>", subject="Your order"),
        ),
        ("our own address", authenticated_mail(sender="support@desk.test", subject="Loop?")),
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
            authenticated_mail(subject=f"Problem {n}", message_id=f"<p{n}@customer.test>"),
            django_capture_on_commit_callbacks,
        )
    assert Ticket.objects.count() == 5
    assert len(mail.outbox) == 3
    # another customer is not held back by Pat's limit
    ingest_and_react(
        box,
        authenticated_mail(sender="quinn@customer.test", message_id="<q@customer.test>"),
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
        authenticated_mail(subject="Problem 6", message_id="<p6@customer.test>"),
        django_capture_on_commit_callbacks,
    )
    assert len(mail.outbox) == 5


@pytest.mark.django_db
def test_an_account_with_acknowledgements_off_sends_none(
    support: Any, eager: None, django_capture_on_commit_callbacks: Any
) -> None:
    quiet = email_account(group=support, config={})
    inbound = ingest_and_react(quiet, authenticated_mail(), django_capture_on_commit_callbacks)
    assert inbound.status == InboundMessage.Status.PROCESSED
    assert mail.outbox == []


@pytest.mark.django_db(transaction=True)
@override_settings(EMAIL_BACKEND=LOCMEM)
def test_the_acknowledgement_leaves_through_a_real_worker(support: Any, live_worker: Any) -> None:
    account = email_account(name="live", group=support, config=ACK)
    inbound_store(account=account, external_id="", raw=authenticated_mail())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not mail.outbox:
        time.sleep(0.1)
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["pat@customer.test"]
    assert mail.outbox[0].extra_headers["Auto-Submitted"] == "auto-replied"


# --- trust: authenticated or known senders only, never spam ----------------------------------


def skipped_reason(inbound: InboundMessage) -> str:
    message = Message.objects.get(pk=inbound.message_id)
    return acknowledgement_send(ticket_id=message.ticket_id, message_id=message.pk)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "results",
    [
        pytest.param(None, id="no Authentication-Results at all"),
        pytest.param("mx.evil.test; dmarc=pass header.from=customer.test", id="untrusted id"),
        pytest.param(
            "mx.desk.test; dkim=pass header.d=bulkmailer.test; spf=pass "
            "smtp.mailfrom=bounce@bulkmailer.test; dmarc=fail header.from=customer.test",
            id="passes for another domain only",
        ),
        pytest.param("mx.desk.test; dmarc=fail header.from=customer.test", id="dmarc fail"),
        pytest.param("mx.desk.test; none", id="nothing checked"),
    ],
)
def test_an_unauthenticated_stranger_gets_a_ticket_but_no_acknowledgement(
    box: ChannelAccount,
    eager: None,
    django_capture_on_commit_callbacks: Any,
    results: str | None,
) -> None:
    headers = {"Authentication-Results": results} if results else {}
    inbound = ingest_and_react(box, make_mail(headers=headers), django_capture_on_commit_callbacks)
    assert inbound.status == InboundMessage.Status.PROCESSED and inbound.ticket_id
    assert mail.outbox == []
    assert "not authenticated" in skipped_reason(inbound)


@pytest.mark.django_db
def test_a_forged_pass_above_the_trusted_servers_fail_does_not_count(
    box: ChannelAccount, eager: None, django_capture_on_commit_callbacks: Any
) -> None:
    raw = make_mail(
        headers={
            # the sender's own (forged) header, then what our server really found
            "Authentication-Results": "mx.desk.test.evil.test; dmarc=pass header.from=customer.test",
        }
    )
    raw = raw.replace(
        b"From:",
        b"Authentication-Results: mx.desk.test; dmarc=fail header.from=customer.test\r\nFrom:",
        1,
    )
    ingest_and_react(box, raw, django_capture_on_commit_callbacks)
    assert mail.outbox == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "results",
    [
        "MX.Desk.Test 1; dkim=pass (2048-bit key) header.d=customer.test header.s=s1",
        "mx.desk.test; spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=pat@mail.customer.test",
        "mx.desk.test;\r\n dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=customer.test",
    ],
)
def test_an_aligned_pass_by_our_server_is_acknowledged(
    box: ChannelAccount, eager: None, django_capture_on_commit_callbacks: Any, results: str
) -> None:
    # as the server writes it, folded lines and all
    raw = make_mail().replace(b"From:", f"Authentication-Results: {results}\r\nFrom:".encode(), 1)
    inbound = ingest_and_react(box, raw, django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 1
    message = Message.objects.get(pk=inbound.message_id)
    assert message.metadata["authenticated"].endswith("pass (mx.desk.test)")


@pytest.mark.django_db
def test_a_known_contact_is_acknowledged_without_authentication(
    box: ChannelAccount, eager: None, django_capture_on_commit_callbacks: Any, agent: Any
) -> None:
    from tickets import services

    first = ingest_and_react(box, make_mail(), django_capture_on_commit_callbacks)
    assert mail.outbox == []  # a stranger, the first time
    services.ticket_reply(
        ticket=Ticket.objects.get(pk=first.ticket_id), author=agent, text="We are on it."
    )
    sent = len(mail.outbox)
    ingest_and_react(
        box,
        make_mail(subject="Another order", message_id="<b1@customer.test>"),
        django_capture_on_commit_callbacks,
    )
    assert len(mail.outbox) == sent + 1  # someone we have answered before
    assert "your request is ticket" in mail.outbox[-1].body


@pytest.mark.django_db
def test_with_ack_requires_auth_off_classification_alone_decides(
    support: Any, eager: None, django_capture_on_commit_callbacks: Any, corpus_dir: Path
) -> None:
    open_box = email_account(group=support, config={**ACK, "ack_requires_auth": False})
    ingest_and_react(open_box, make_mail(), django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 1
    for n, raw in enumerate(
        [
            make_mail(sender="post_master@customer.test", subject="Mail delivery failed"),
            make_mail(sender="sam@customer.test", headers={"X-Spam-Flag": "YES"}),
            (corpus_dir / "email" / CORPUS_BOUNCE).read_bytes(),
            (corpus_dir / "email" / "flanker/complaints_yahoo.eml").read_bytes(),
        ]
    ):
        ingest_and_react(
            open_box,
            raw.replace(b"<a1@customer.test>", f"<m{n}@customer.test>".encode()),
            django_capture_on_commit_callbacks,
        )
    assert len(mail.outbox) == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "spam",
    [
        {"X-Spam-Flag": "YES"},
        {"X-Spam-Status": "Yes, score=12.1 required=5.0 tests=BAYES_99"},
        {"X-Spam-Score": "7.4"},
        {"X-Spam-Level": "*******"},
        {"X-MS-Exchange-Organization-SCL": "9"},
    ],
)
def test_spam_is_never_acknowledged_even_when_authenticated(
    box: ChannelAccount, eager: None, django_capture_on_commit_callbacks: Any, spam: dict[str, str]
) -> None:
    inbound = ingest_and_react(
        box, authenticated_mail(headers=spam), django_capture_on_commit_callbacks
    )
    assert inbound.status == InboundMessage.Status.PROCESSED
    assert mail.outbox == []
    assert "spam" in skipped_reason(inbound)


@pytest.mark.django_db
def test_a_low_spam_score_is_no_verdict(
    box: ChannelAccount, eager: None, django_capture_on_commit_callbacks: Any
) -> None:
    headers = {"X-Spam-Status": "No, score=1.2 required=5.0", "X-Spam-Score": "1.2"}
    ingest_and_react(box, authenticated_mail(headers=headers), django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 1

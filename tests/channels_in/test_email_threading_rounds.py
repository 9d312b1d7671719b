"""A conversation of several rounds through real email bytes both ways: the agent's reply as
sent (from the outbox), the customer's answer built from it the way a mail client does, and
the recipients of every reply: To the requester, CC the participants, never CC the requester."""

from __future__ import annotations

from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import getaddresses
from typing import Any

import pytest
from django.core import mail
from django.test import override_settings

from channels_in.models import ChannelAccount, InboundMessage, OutboundDelivery
from channels_in.services import delivery_send
from tests.channels_in.mailtools import email_account, ingest, make_mail
from tickets import services
from tickets.models import Identity, Message, Participant, Ticket

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("locmem")]


@pytest.fixture
def locmem() -> Any:
    with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
        yield


@pytest.fixture
def box(support: Any) -> ChannelAccount:
    return email_account(group=support)


def agent_replies(ticket: Ticket, agent: Any, text: str) -> EmailMessage:
    """The agent answers; returns the mail exactly as it left (parsed from its bytes)."""
    reply = services.ticket_reply(ticket=ticket, author=agent, text=text)
    delivery_send(delivery_id=OutboundDelivery.objects.get(message=reply).pk)
    sent = message_from_bytes(mail.outbox[-1].message().as_bytes(), policy=default_policy)
    assert isinstance(sent, EmailMessage)
    return sent


def answer(sent: EmailMessage, *, sender: str, text: str, n: int, cc: str = "") -> bytes:
    """What a mail client writes when its user presses Reply on `sent`."""
    quoted = "\n".join("> " + line for line in sent.get_body(("plain",)).get_content().splitlines())
    references = " ".join(filter(None, [str(sent.get("References", "")), sent["Message-ID"]]))
    return make_mail(
        sender=sender,
        to=str(sent["Reply-To"] or sent["From"]),
        cc=cc,
        subject="Re: " + str(sent["Subject"]),
        message_id=f"<round{n}.{sender}>".replace("@", "."),
        in_reply_to=sent["Message-ID"],
        references=references,
        body=f"{text}\n\nOn Monday, Support wrote:\n{quoted}\n",
    )


def addresses(sent: EmailMessage, header: str) -> list[str]:
    return [address.lower() for _, address in getaddresses(sent.get_all(header, []))]


def test_a_conversation_of_several_rounds_stays_on_one_ticket(
    box: ChannelAccount, agent: Any
) -> None:
    first = ingest(box, make_mail(cc="Quinn Colleague <quinn@customer.test>"))
    ticket = Ticket.objects.get(pk=first.ticket_id)
    quinn = Identity.objects.get(value="quinn@customer.test").contact
    assert list(Participant.objects.filter(ticket=ticket).values_list("contact", flat=True)) == [
        quinn.pk
    ]

    sender = "Pat Customer <pat@customer.test>"
    for n in range(1, 5):
        sent = agent_replies(ticket, agent, f"Answer number {n}.")
        assert addresses(sent, "To") == ["pat@customer.test"]
        assert addresses(sent, "Cc") == ["quinn@customer.test"]
        assert f"[ref:{ticket.reply_token}]" in sent["Subject"]
        assert sent["In-Reply-To"] in {m.external_id for m in ticket.messages.all()}
        # the colleague answers every other round with reply-all; the requester the others
        if n % 2:
            raw = answer(
                sent, sender=sender, text=f"Thanks for answer {n}.", n=n, cc="quinn@customer.test"
            )
        else:
            raw = answer(
                sent,
                sender="Quinn Colleague <quinn@customer.test>",
                n=n,
                text=f"Quinn here about answer {n}.",
                cc="pat@customer.test",
            )
        inbound = ingest(box, raw)
        assert inbound.status == InboundMessage.Status.PROCESSED, inbound.reason
        assert inbound.ticket_id == ticket.pk, f"round {n} left the ticket"
        message = Message.objects.get(pk=inbound.message_id)
        assert message.flag == "" and message.text.startswith(("Thanks for", "Quinn here"))
        assert message.metadata["quoted_text_start"] > 0  # history kept, folded in the view
    ticket.refresh_from_db()
    assert ticket.message_count == 9 and Ticket.objects.count() == 1
    assert ticket.contact.identities.get().value == "pat@customer.test"
    assert Participant.objects.filter(ticket=ticket).count() == 1  # Pat was never made one


def test_a_reply_never_carbon_copies_the_requester(box: ChannelAccount, agent: Any) -> None:
    ticket = Ticket.objects.get(pk=ingest(box, make_mail(cc="quinn@customer.test")).ticket_id)
    # the requester is known under a second address, and writes from it, CC'ing the first
    services.identity_add(
        contact=ticket.contact, kind=Identity.Kind.EMAIL, value="pat.home@customer.test"
    )
    sent = agent_replies(ticket, agent, "First answer.")
    ingest(
        box,
        answer(
            sent,
            sender="pat.home@customer.test",
            text="From home.",
            n=1,
            cc="pat@customer.test, quinn@customer.test",
        ),
    )
    sent = agent_replies(ticket, agent, "Second answer.")
    assert addresses(sent, "To") == ["pat@customer.test"]
    assert addresses(sent, "Cc") == ["quinn@customer.test"]
    for header in ("Cc", "Bcc"):
        assert not {"pat@customer.test", "pat.home@customer.test"} & set(addresses(sent, header))


def test_a_stranger_replying_into_the_thread_is_flagged_and_gets_nothing(
    box: ChannelAccount, agent: Any
) -> None:
    ticket = Ticket.objects.get(pk=ingest(box, make_mail()).ticket_id)
    sent = agent_replies(ticket, agent, "Your order ships today.")
    spoof = ingest(
        box,
        answer(
            sent,
            sender="Mallory <mallory@evil.test>",
            text="Please send the refund to my account instead.",
            n=1,
        ),
    )
    assert spoof.ticket_id == ticket.pk
    message = Message.objects.get(pk=spoof.message_id)
    assert "not a participant" in message.flag
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.PENDING  # a stranger's mail does not reopen it
    sent = agent_replies(ticket, agent, "Noted.")
    assert addresses(sent, "To") == ["pat@customer.test"] and addresses(sent, "Cc") == []
    # the token alone, from a stranger, opens a ticket of their own
    token_only = ingest(
        box,
        make_mail(
            sender="mallory@evil.test",
            message_id="<m2@evil.test>",
            subject=f"Re: hello [ref:{ticket.reply_token}]",
        ),
    )
    assert token_only.ticket_id != ticket.pk


def test_inline_images_are_linked_to_their_stored_attachments(box: ChannelAccount) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    raw = make_mail(
        html='<p>Our logo: <img src="cid:logo.1@customer.test" alt="logo"></p>',
        inline_image=("logo.1@customer.test", png),
    )
    message = Message.objects.get(pk=ingest(box, raw).message_id)
    attachment = message.attachments.get()
    assert attachment.inline and attachment.content_type == "image/png"
    assert f'src="/desk/attachments/{attachment.pk}/inline/"' in message.html
    assert "cid:" not in message.html


FORWARDED_BODY = (
    "Can you look at this one?\n\n"
    "---------- Forwarded message ---------\n"
    "From: Rita Reseller <rita@reseller.test>\n"
    "Date: Mon, 23 Nov 2026 at 09:00\n"
    "Subject: Licence renewal\n"
    "To: someone@desk.test\n\n"
    "Hello, our licence expires on Friday. Can we renew for two years?\n"
)


def test_mail_an_agent_forwards_in_becomes_the_original_senders_ticket(
    box: ChannelAccount, agent: Any
) -> None:
    raw = make_mail(
        sender=f"Ada Agent <{agent.email.upper()}>",
        subject="Fwd: Licence renewal",
        body=FORWARDED_BODY,
    )
    message = Message.objects.get(pk=ingest(box, raw).message_id)
    assert message.ticket.contact.identities.get().value == "rita@reseller.test"
    assert message.metadata["forwarded_by"] == agent.email.lower()


@pytest.mark.parametrize("who", ["customer", "former agent"])
def test_a_forward_from_anyone_but_an_agent_stays_the_senders_own(
    box: ChannelAccount, agent: Any, who: str
) -> None:
    if who == "former agent":
        agent.is_active = False
        agent.save(update_fields=["is_active"])
        sender = agent.email
    else:
        sender = "pat@customer.test"
    raw = make_mail(sender=sender, subject="Fwd: Licence renewal", body=FORWARDED_BODY)
    inbound = ingest(box, raw)
    message = Message.objects.get(pk=inbound.message_id)
    # the forwarder asked; Rita never wrote to us and gets no ticket in her name
    assert message.ticket.contact.identities.get().value == sender.lower()
    assert message.metadata["forwarded_from"] == "rita@reseller.test"
    assert "forwarded_by" not in message.metadata
    assert not Identity.objects.filter(value="rita@reseller.test").exists()


# --- Reply-To: the address we answer at is a party to the ticket ------------------------------


def first_mail_with_reply_to(box: ChannelAccount, reply_to: str) -> Ticket:
    inbound = ingest(box, make_mail(headers={"Reply-To": reply_to}))
    assert inbound.status == InboundMessage.Status.PROCESSED, inbound.reason
    return Ticket.objects.get(pk=inbound.ticket_id)


def test_a_team_mailbox_named_in_reply_to_gets_the_answer_and_may_answer_back(
    box: ChannelAccount, agent: Any
) -> None:
    ticket = first_mail_with_reply_to(box, "Customer Operations <ops@customer.test>")
    ops = Identity.objects.get(value="ops@customer.test").contact
    assert list(ticket.participants.values_list("contact", flat=True)) == [ops.pk]
    assert ticket.contact.identities.get().value == "pat@customer.test"  # not Pat's address

    sent = agent_replies(ticket, agent, "Which order number?")
    assert addresses(sent, "To") == ["ops@customer.test"] and addresses(sent, "Cc") == []
    back = ingest(
        box, answer(sent, sender="Customer Operations <ops@customer.test>", text="1234.", n=1)
    )
    assert back.status == InboundMessage.Status.PROCESSED and back.ticket_id == ticket.pk
    message = Message.objects.get(pk=back.message_id)
    assert message.flag == "" and message.author_contact_id == ops.pk
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.OPEN  # a party's answer reopens the pending ticket
    assert Ticket.objects.count() == 1


def test_the_senders_own_other_address_becomes_their_identity(
    box: ChannelAccount, agent: Any
) -> None:
    ticket = first_mail_with_reply_to(box, "Pat Customer <pat.home@mail.customer.test>")
    assert set(ticket.contact.identities.values_list("value", flat=True)) == {
        "pat@customer.test",
        "pat.home@mail.customer.test",
    }
    assert not ticket.participants.exists()
    sent = agent_replies(ticket, agent, "Shipped.")
    assert addresses(sent, "To") == ["pat.home@mail.customer.test"]
    back = ingest(box, answer(sent, sender="pat.home@mail.customer.test", text="Thanks!", n=1))
    message = Message.objects.get(pk=back.message_id)
    assert message.flag == "" and message.author_contact_id == ticket.contact_id


@pytest.mark.parametrize(
    "reply_to",
    [
        "Pat Customer <pat@elsewhere.test>",  # the same name at another domain: not provably Pat
        "Billing <pat-billing@customer.test>",  # the same domain, another name and mailbox
    ],
)
def test_a_reply_to_that_may_be_someone_else_is_a_participant_not_an_identity(
    box: ChannelAccount, reply_to: str
) -> None:
    ticket = first_mail_with_reply_to(box, reply_to)
    assert ticket.contact.identities.count() == 1
    assert ticket.participants.count() == 1


def test_a_reply_to_already_known_as_another_contact_joins_as_that_contact(
    box: ChannelAccount,
) -> None:
    quinn = services.contact_resolve(kind=Identity.Kind.EMAIL, value="quinn@customer.test")
    ticket = first_mail_with_reply_to(box, "Pat Customer <quinn@customer.test>")
    assert list(ticket.participants.values_list("contact", flat=True)) == [quinn.pk]
    assert ticket.contact.identities.count() == 1


def test_no_reply_and_our_own_addresses_in_reply_to_are_not_parties(
    box: ChannelAccount, agent: Any
) -> None:
    email_account(name="sales", address="sales@desk.test")
    for n, reply_to in enumerate(
        ["no-reply@customer.test", "support@desk.test", "Sales <sales@desk.test>"]
    ):
        inbound = ingest(
            box, make_mail(message_id=f"<nr{n}@customer.test>", headers={"Reply-To": reply_to})
        )
        ticket = Ticket.objects.get(pk=inbound.ticket_id)
        assert not ticket.participants.exists()
        assert addresses(agent_replies(ticket, agent, "Hello."), "To") == ["pat@customer.test"]


def test_a_strangers_reply_to_grants_nobody_a_place_on_the_ticket(
    box: ChannelAccount, agent: Any
) -> None:
    ticket = Ticket.objects.get(pk=ingest(box, make_mail()).ticket_id)
    sent = agent_replies(ticket, agent, "Your order ships today.")
    raw = answer(sent, sender="Mallory <mallory@evil.test>", text="Send it to me.", n=1)
    raw = raw.replace(b"From:", b"Reply-To: accomplice@evil.test\r\nFrom:", 1)
    spoof = ingest(box, raw)
    assert "not a participant" in Message.objects.get(pk=spoof.message_id).flag
    assert not ticket.participants.exists()
    assert not Identity.objects.filter(value="accomplice@evil.test").exists()
    assert addresses(agent_replies(ticket, agent, "Noted."), "To") == ["pat@customer.test"]

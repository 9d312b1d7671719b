"""One customer, many channels, one thread: chat → email → WhatsApp, and email answered by SMS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default as default_policy
from typing import Any
from urllib.parse import urlencode

import pytest
import responses
from django.core import mail
from django.test import Client, override_settings

from channels_in.models import ChannelAccount, ChannelKind, OutboundDelivery
from channels_in.services import delivery_send, inbound_process, inbound_store
from tests.channels_in.chat_support import (
    FAST_HASHERS,
    clear_presence,
    go_online,
    make_chat_account,
    say,
    start,
)
from tests.channels_in.provider_support import hub_signed, process_received, twilio_signed
from tickets import services
from tickets.models import Ticket

pytestmark = pytest.mark.django_db

LOCMEM = "django.core.mail.backends.locmem.EmailBackend"
GRAPH = "https://graph.facebook.com/v21.0"
TWILIO_SID = "AC00000000000000000000000000000001"


@pytest.fixture(autouse=True)
def fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = FAST_HASHERS


@pytest.fixture(autouse=True)
def presence() -> Iterator[None]:
    clear_presence()
    yield
    clear_presence()


@pytest.fixture
def accounts(support: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, ChannelAccount]:
    for name, value in {
        "WA_TOKEN": "wa-token",
        "WA_SECRET": "wa-secret",
        "WA_VERIFY": "v",
        "SMS_TOKEN": "sms-token",
    }.items():
        monkeypatch.setenv(name, value)
    return {
        "chat": make_chat_account(group=support),
        "email": ChannelAccount.objects.create(
            kind=ChannelKind.EMAIL, name="support", address="support@desk.test", group=support
        ),
        "whatsapp": ChannelAccount.objects.create(
            kind=ChannelKind.WHATSAPP,
            name="wa",
            group=support,
            config={
                "phone_number_id": "1065403",
                "access_token_env": "WA_TOKEN",
                "app_secret_env": "WA_SECRET",
                "verify_token_env": "WA_VERIFY",
            },
        ),
        "sms": ChannelAccount.objects.create(
            kind=ChannelKind.SMS,
            name="sms",
            group=support,
            config={
                "account_sid": TWILIO_SID,
                "auth_token_env": "SMS_TOKEN",
                "from_number": "+15017122661",
            },
        ),
    }


def email_from_customer(
    *, subject: str, body: str, message_id: str, in_reply_to: str = ""
) -> bytes:
    thread = f"In-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n" if in_reply_to else ""
    return (
        f"From: Pat Jones <pat@customer.test>\r\nTo: support@desk.test\r\n"
        f"Subject: {subject}\r\nMessage-ID: {message_id}\r\n{thread}"
        f"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


def whatsapp_message(wamid: str, text: str) -> bytes:
    from django.utils import timezone

    body, signature = hub_signed(
        "wa-secret",
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "1",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": "15550001111",
                                    "phone_number_id": "1065403",
                                },
                                "contacts": [
                                    {"profile": {"name": "Pat J"}, "wa_id": "14155550123"}
                                ],
                                "messages": [
                                    {
                                        "from": "14155550123",
                                        "id": wamid,
                                        "type": "text",
                                        "timestamp": str(int(timezone.now().timestamp())),
                                        "text": {"body": text},
                                    }
                                ],
                            },
                        }
                    ],
                }
            ],
        },
    )
    response = Client().post(
        "/channels/whatsapp/wa/webhook/",
        body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=signature,
    )
    assert response.status_code == 200
    return body


@override_settings(EMAIL_BACKEND=LOCMEM)
@responses.activate
def test_a_conversation_from_chat_to_email_to_whatsapp_stays_one_ticket(
    accounts: dict[str, ChannelAccount], agent: Any
) -> None:
    # 1. live chat: the visitor leaves their email in the pre-chat form
    go_online(agent)
    session = start(accounts["chat"], name="Pat Jones", email="pat@customer.test")
    say(accounts["chat"], session.conversation, "My order 77 has not arrived")
    from channels_in.chat import services as chat
    from channels_in.models import ChatConversation

    conversation = ChatConversation.objects.get(pk=session.conversation.pk)
    ticket = Ticket.objects.get(pk=conversation.ticket_id)
    chat.chat_agent_reply(conversation=conversation, agent=agent, text="Let me check the carrier.")

    # 2. the agent follows up by email, to the address the visitor gave; the customer answers
    follow_up = services.ticket_reply(
        ticket=ticket,
        author=agent,
        channel="email",
        text="The carrier lost it; a new one ships today.",
    )
    delivery = OutboundDelivery.objects.get(message=follow_up)
    assert (delivery.channel, delivery.recipient) == ("email", "pat@customer.test")
    delivery_send(delivery_id=delivery.pk)
    sent = message_from_bytes(mail.outbox[0].message().as_bytes(), policy=default_policy)
    answer = email_from_customer(
        subject=f"Re: {sent['Subject']}",
        body="Great, thanks!",
        message_id="<answer-1@customer.test>",
        in_reply_to=sent["Message-ID"],
    )
    stored = inbound_store(account=accounts["email"], external_id="", raw=answer, process=False)
    assert inbound_process(inbound_id=stored.inbound.pk).ticket_id == ticket.pk

    # 3. the agent notes the customer's mobile; later they write on WhatsApp from it
    services.identity_add(contact=ticket.contact, kind="phone", value="(415) 555-0123")
    whatsapp_message("wamid.CROSS1", "Tracking says delivered but nothing here")
    [done] = process_received()
    assert done.ticket_id == ticket.pk
    sent_wa = responses.post(f"{GRAPH}/1065403/messages", json={"messages": [{"id": "wamid.R1"}]})
    reply = services.ticket_reply(
        ticket=ticket, author=agent, channel="whatsapp", text="Checking with the driver now."
    )
    delivery_send(delivery_id=OutboundDelivery.objects.get(message=reply).pk)
    assert json.loads(sent_wa.calls[0].request.body)["to"] == "14155550123"

    assert Ticket.objects.count() == 1
    assert list(ticket.messages.order_by("id").values_list("kind", "channel")) == [
        ("customer", "chat"),
        ("reply", "chat"),
        ("reply", "email"),
        ("customer", "email"),
        ("customer", "whatsapp"),
        ("reply", "whatsapp"),
    ]
    assert ticket.contact.identities.count() == 4  # chat, email, phone, whatsapp


@responses.activate
def test_an_email_ticket_answered_by_sms_gets_the_sms_answer_back(
    accounts: dict[str, ChannelAccount], agent: Any
) -> None:
    stored = inbound_store(
        account=accounts["email"],
        external_id="",
        process=False,
        raw=(
            email_from_customer(
                subject="Refund for order 12",
                body="Where is my refund?",
                message_id="<q1@customer.test>",
            )
        ),
    )
    ticket = Ticket.objects.get(pk=inbound_process(inbound_id=stored.inbound.pk).ticket_id)
    services.identity_add(contact=ticket.contact, kind="phone", value="+14155550123")
    api = f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    responses.post(api, status=201, json={"sid": "SMrefund1", "status": "queued"})
    reply = services.ticket_reply(
        ticket=ticket,
        author=agent,
        channel="sms",
        text="Refund sent today. Reply here if it has not arrived.",
    )
    delivery = OutboundDelivery.objects.get(message=reply)
    delivery_send(delivery_id=delivery.pk)
    assert OutboundDelivery.objects.get(pk=delivery.pk).provider_id == "SMrefund1"

    data = {
        "MessageSid": "SMin55",
        "AccountSid": TWILIO_SID,
        "From": "+14155550123",
        "To": "+15017122661",
        "Body": "Got it, thank you!",
        "NumMedia": "0",
    }
    path = "/channels/sms/sms/inbound/"
    Client().post(
        path,
        urlencode(data),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=twilio_signed("sms-token", f"http://testserver{path}", data),
    )
    [done] = process_received()
    assert done.ticket_id == ticket.pk
    assert list(ticket.messages.values_list("channel", flat=True)) == ["email", "sms", "sms"]


def test_after_a_contact_merge_their_other_number_writes_into_the_kept_thread(
    accounts: dict[str, ChannelAccount], agent: Any, supervisor: Any
) -> None:
    stored = inbound_store(
        account=accounts["email"],
        external_id="",
        process=False,
        raw=(
            email_from_customer(
                subject="Broken kettle", body="It leaks.", message_id="<k1@customer.test>"
            )
        ),
    )
    ticket = Ticket.objects.get(pk=inbound_process(inbound_id=stored.inbound.pk).ticket_id)
    whatsapp_message("wamid.M1", "Hi it's Pat again, about the kettle")
    [first] = process_received()
    stray = Ticket.objects.get(pk=first.ticket_id)
    assert stray.pk != ticket.pk  # an unknown number: a new contact, a new ticket
    services.ticket_merge(source=stray, target=ticket, actor=agent)
    services.contact_merge(source=stray.contact, target=ticket.contact, actor=supervisor)
    whatsapp_message("wamid.M2", "Any update?")
    [second] = process_received()
    assert second.ticket_id == ticket.pk
    assert Ticket.objects.filter(status__in=Ticket.ACTIVE_STATUSES).count() == 1

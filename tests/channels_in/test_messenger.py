"""Messenger and Instagram: handshake, signed webhooks, replies through the Send API."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import responses
from django.test import Client
from django.utils import timezone

from channels_in.models import ChannelAccount, ChannelKind, InboundMessage, OutboundDelivery
from channels_in.services import delivery_send
from tests.channels_in.chat_support import FAST_HASHERS
from tests.channels_in.provider_support import hub_signed, process_received
from tickets import services
from tickets.models import Identity, Message, Ticket

pytestmark = pytest.mark.django_db

SEND = "https://graph.facebook.com/v21.0/me/messages"
APP_SECRET = "meta-app-secret"
URL = "/channels/messenger/fb-page/webhook/"
PSID = "6944828258910473"
PAGE = "104512345678901"


@pytest.fixture(autouse=True)
def fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = FAST_HASHERS


@pytest.fixture
def page(support: Any, monkeypatch: pytest.MonkeyPatch) -> ChannelAccount:
    monkeypatch.setenv("FB_TOKEN", "EAAB-page-token")
    monkeypatch.setenv("FB_SECRET", APP_SECRET)
    monkeypatch.setenv("FB_VERIFY", "verify-fb")
    return ChannelAccount.objects.create(
        kind=ChannelKind.MESSENGER,
        name="fb-page",
        group=support,
        config={
            "page_id": PAGE,
            "page_access_token_env": "FB_TOKEN",
            "app_secret_env": "FB_SECRET",
            "verify_token_env": "FB_VERIFY",
        },
    )


def now_ms() -> int:
    return int(timezone.now().timestamp() * 1000)


def body(*items: dict[str, Any], obj: str = "page") -> dict[str, Any]:
    return {"object": obj, "entry": [{"id": PAGE, "time": now_ms(), "messaging": list(items)}]}


def message(mid: str, text: str = "", **extra: Any) -> dict[str, Any]:
    content: dict[str, Any] = {"mid": mid, **extra}
    if text:
        content["text"] = text
    return {
        "sender": {"id": PSID},
        "recipient": {"id": PAGE},
        "timestamp": now_ms(),
        "message": content,
    }


def post(payload: Any, secret: str = APP_SECRET, signature: str | None = None) -> Any:
    raw, good = hub_signed(secret, payload)
    return Client().post(
        URL,
        raw,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=good if signature is None else signature,
    )


def test_the_handshake_needs_our_verify_token(page: ChannelAccount) -> None:
    ok = Client().get(
        URL,
        {
            "hub.mode": "subscribe",
            "hub.verify_token": "verify-fb",
            "hub.challenge": "CHALLENGE_ACCEPTED",
        },
    )
    assert ok.content == b"CHALLENGE_ACCEPTED"
    assert (
        Client()
        .get(URL, {"hub.mode": "subscribe", "hub.verify_token": "x", "hub.challenge": "c"})
        .status_code
        == 403
    )


def test_a_signed_message_becomes_a_ticket_and_a_forged_one_is_refused(
    page: ChannelAccount,
) -> None:
    assert post(body(message("m_forged", "hi")), signature="sha256=deadbeef").status_code == 403
    assert InboundMessage.objects.count() == 0
    assert post(body(message("m_1", "Can I change my delivery address?"))).status_code == 200
    [done] = process_received()
    ticket = Ticket.objects.get(pk=done.ticket_id)
    assert ticket.channel == "messenger"
    assert ticket.contact.identities.get().value == PSID


def test_instagram_ids_are_kept_apart_and_echoes_and_unknown_events_recorded(
    page: ChannelAccount,
) -> None:
    post(
        body(
            {
                "sender": {"id": "17841400000000000"},
                "recipient": {"id": PAGE},
                "timestamp": now_ms(),
                "message": {"mid": "aWdfZAG1", "text": "from instagram"},
            },
            obj="instagram",
        )
    )
    post(
        body(
            message("m_echo", "we said this", is_echo=True, app_id=1517776481860111),
            {
                "sender": {"id": PSID},
                "recipient": {"id": PAGE},
                "timestamp": now_ms(),
                "account_linking": {"status": "linked", "authorization_code": "x"},
            },
        )
    )
    results = {row.external_id: row for row in process_received()}
    instagram = Ticket.objects.get(pk=results["aWdfZAG1"].ticket_id)
    assert instagram.contact.identities.get().value == "ig:17841400000000000"
    assert results["m_echo"].status == "ignored" and "echo" in results["m_echo"].reason
    [unknown] = [r for key, r in results.items() if key.startswith("unknown:")]
    assert unknown.status == "failed" and "account_linking" in unknown.reason


@responses.activate
def test_attachments_are_downloaded_and_locations_written_out(page: ChannelAccount) -> None:
    cdn = "https://scontent.xx.fbcdn.net/v/t1.15752-9/receipt.png?_nc_cat=1"
    responses.get(cdn, body=b"\x89PNG", content_type="image/png")
    post(
        body(
            message(
                "m_img",
                "here is my receipt",
                attachments=[{"type": "image", "payload": {"url": cdn}}],
            ),
            message(
                "m_loc",
                attachments=[
                    {
                        "type": "location",
                        "title": "Pinned Location",
                        "payload": {"coordinates": {"lat": 40.7128, "long": -74.006}},
                    }
                ],
            ),
        )
    )
    process_received()
    image = Message.objects.get(external_id="m_img")
    attachment = image.attachments.get()
    assert (attachment.filename, attachment.content_type) == ("receipt.png", "image/png")
    place = Message.objects.get(external_id="m_loc")
    assert "40.712800, -74.006000" in place.text and "Pinned Location" in place.text


def _reply(agent: Any, age: timedelta = timedelta(0)) -> OutboundDelivery:
    post(body(message("m_in", "Is it in stock?")))
    [done] = process_received()
    Message.objects.filter(pk=done.message_id).update(created_at=timezone.now() - age)
    reply = services.ticket_reply(
        ticket=Ticket.objects.get(pk=done.ticket_id), author=agent, text="Yes, 4 left."
    )
    return OutboundDelivery.objects.get(message=reply)


@responses.activate
def test_replies_respect_the_messaging_windows(page: ChannelAccount, agent: Any) -> None:
    sent = responses.post(SEND, json={"recipient_id": PSID, "message_id": "m_OUT1"})
    delivery = _reply(agent)
    delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.provider_id) == ("sent", "m_OUT1")
    request = sent.calls[0].request
    assert "access_token=EAAB-page-token" in request.url
    assert json.loads(request.body) == {
        "recipient": {"id": PSID},
        "message": {"text": "Yes, 4 left."},
        "messaging_type": "RESPONSE",
    }

    Message.objects.filter(kind="customer").update(created_at=timezone.now() - timedelta(days=2))
    late = services.ticket_reply(ticket=delivery.message.ticket, author=agent, text="Still there?")
    delivery_send(delivery_id=OutboundDelivery.objects.get(message=late).pk)
    assert json.loads(sent.calls[1].request.body)["tag"] == "HUMAN_AGENT"

    Message.objects.filter(kind="customer").update(created_at=timezone.now() - timedelta(days=8))
    too_late = services.ticket_reply(ticket=delivery.message.ticket, author=agent, text="Hello?")
    gone = OutboundDelivery.objects.get(message=too_late)
    delivery_send(delivery_id=gone.pk)
    gone.refresh_from_db()
    assert gone.status == "failed" and "7 days" in gone.error
    assert len(sent.calls) == 2


@responses.activate
def test_delivery_and_read_receipts_reach_our_messages(page: ChannelAccount, agent: Any) -> None:
    responses.post(SEND, json={"recipient_id": PSID, "message_id": "m_OUT9"})
    delivery = _reply(agent)
    delivery_send(delivery_id=delivery.pk)
    post(
        body(
            {
                "sender": {"id": PSID},
                "recipient": {"id": PAGE},
                "delivery": {"mids": ["m_OUT9"], "watermark": now_ms()},
            }
        )
    )
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    post(
        body(
            {
                "sender": {"id": PSID},
                "recipient": {"id": PAGE},
                "timestamp": now_ms(),
                "read": {"watermark": now_ms() + 1000},
            }
        )
    )
    delivery.refresh_from_db()
    assert delivery.status == "read"
    assert Identity.objects.filter(kind="messenger").count() == 1

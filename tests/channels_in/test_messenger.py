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
from tests.channels_in.test_parts import assert_pieces_of
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


def _reply(
    agent: Any, age: timedelta = timedelta(0), text: str = "Yes, 4 left."
) -> OutboundDelivery:
    post(body(message("m_in", "Is it in stock?")))
    [done] = process_received()
    Message.objects.filter(pk=done.message_id).update(created_at=timezone.now() - age)
    reply = services.ticket_reply(
        ticket=Ticket.objects.get(pk=done.ticket_id), author=agent, text=text
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


# --- replies with files ------------------------------------------------------------------------

PDF = ("invoice.pdf", "application/pdf", b"%PDF-1.4 invoice")
JPEG = ("label.jpg", "image/jpeg", b"\xff\xd8\xff label")


def _reply_with_files(
    agent: Any,
    files: list[tuple[str, str, bytes]],
    age: timedelta = timedelta(0),
    text: str = "Here is the invoice and the label.",
) -> OutboundDelivery:
    from tickets.types import IncomingAttachment

    if not Ticket.objects.exists():
        post(body(message("m_in", "Is it in stock?")))
        process_received()
    Message.objects.filter(kind="customer").update(created_at=timezone.now() - age)
    reply = services.ticket_reply(
        ticket=Ticket.objects.get(),
        author=agent,
        text=text,
        attachments=[
            IncomingAttachment(filename=name, content_type=ctype, payload=payload)
            for name, ctype, payload in files
        ],
    )
    return OutboundDelivery.objects.get(message=reply)


def _form_field(request_body: bytes, name: str) -> bytes:
    marker = f'name="{name}"\r\n\r\n'.encode()
    return request_body.split(marker, 1)[1].split(b"\r\n--", 1)[0]


@responses.activate
def test_the_text_goes_first_then_each_file_uploaded_as_filedata(
    page: ChannelAccount, agent: Any
) -> None:
    sent = [
        responses.post(SEND, json={"recipient_id": PSID, "message_id": f"m_OUT{n}"})
        for n in (1, 2, 3)
    ]
    delivery = _reply_with_files(agent, [PDF, JPEG])
    delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.provider_id) == ("sent", "m_OUT3")

    text, invoice, label = (s.calls[0].request for s in sent)
    assert json.loads(text.body) == {
        "recipient": {"id": PSID},
        "message": {"text": "Here is the invoice and the label."},
        "messaging_type": "RESPONSE",
    }
    for request in (invoice, label):
        assert "access_token=EAAB-page-token" in request.url
        assert request.headers["Content-Type"].startswith("multipart/form-data")
        assert json.loads(_form_field(request.body, "recipient")) == {"id": PSID}
        assert _form_field(request.body, "messaging_type") == b"RESPONSE"
    assert json.loads(_form_field(invoice.body, "message")) == {
        "attachment": {"type": "file", "payload": {"is_reusable": False}}
    }
    assert b'name="filedata"; filename="invoice.pdf"' in invoice.body
    assert b"Content-Type: application/pdf" in invoice.body and b"%PDF-1.4 invoice" in invoice.body
    assert json.loads(_form_field(label.body, "message"))["attachment"]["type"] == "image"
    assert b'name="filedata"; filename="label.jpg"' in label.body
    assert [p["id"] for p in delivery.parts] == ["m_OUT1", "m_OUT2", "m_OUT3"]


@responses.activate
def test_a_retry_sends_only_the_missing_files_with_the_human_agent_tag(
    page: ChannelAccount, agent: Any
) -> None:
    from channels_in.errors import DeliveryError

    responses.post(SEND, json={"recipient_id": PSID, "message_id": "m_TXT"})
    responses.post(SEND, status=500, json={"error": {"message": "An unknown error", "code": 1}})
    delivery = _reply_with_files(agent, [PDF], age=timedelta(days=2))
    with pytest.raises(DeliveryError):
        delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "queued"
    assert "Sent: the text. Not sent: invoice.pdf" in delivery.error

    responses.replace(responses.POST, SEND, json={"recipient_id": PSID, "message_id": "m_PDF"})
    delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.provider_id) == ("sent", "m_PDF")
    first_text, failed_file, retried_file = (c.request for c in responses.calls)
    assert json.loads(first_text.body)["tag"] == "HUMAN_AGENT"
    assert b"invoice.pdf" in failed_file.body
    assert b"invoice.pdf" in retried_file.body and b"Is it in stock" not in retried_file.body
    assert _form_field(retried_file.body, "messaging_type") == b"MESSAGE_TAG"
    assert _form_field(retried_file.body, "tag") == b"HUMAN_AGENT"


@responses.activate
def test_a_refused_file_fails_the_reply_saying_what_went_out(
    page: ChannelAccount, agent: Any
) -> None:
    responses.post(SEND, json={"recipient_id": PSID, "message_id": "m_TXT"})
    responses.post(SEND, json={"recipient_id": PSID, "message_id": "m_PDF"})
    responses.post(
        SEND,
        status=400,
        json={"error": {"message": "(#100) Upload attachment failure.", "code": 100}},
    )
    delivery = _reply_with_files(agent, [PDF, JPEG])
    delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "failed"
    assert "Sent: the text, invoice.pdf. Not sent: label.jpg" in delivery.error
    assert "Upload attachment failure" in delivery.error
    event = delivery.message.ticket.events.filter(kind="delivery").latest("id")
    assert event.new["status"] == "failed" and "Not sent: label.jpg" in event.new["detail"]

    big = ("video.mp4", "video/mp4", b"0" * (25 * 1024 * 1024 + 1))
    too_big = _reply_with_files(agent, [PDF, big])
    delivery_send(delivery_id=too_big.pk)
    too_big.refresh_from_db()
    assert too_big.status == "failed" and "Too large: video.mp4 (26 MB)" in too_big.error
    assert len(responses.calls) == 3  # nothing more went out


# About 5,000 characters, in lines: three Send API texts of at most 2,000.
LONG = "\n".join(f"{n}. Check the cable, then restart the router and wait." for n in range(90))


@responses.activate
def test_a_text_longer_than_a_message_goes_as_several_in_order_nothing_cut(
    page: ChannelAccount, agent: Any
) -> None:
    for n in range(1, 4):
        responses.post(SEND, json={"recipient_id": PSID, "message_id": f"m_P{n}"})
    delivery = _reply(agent, text=LONG)
    delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.provider_id) == ("sent", "m_P3")
    bodies = [json.loads(c.request.body) for c in responses.calls]
    pieces = [b["message"]["text"] for b in bodies]
    assert_pieces_of(LONG, pieces, 2000)
    assert len(pieces) == 3 and all(p.endswith("wait.") for p in pieces)  # cut between lines
    assert {b["messaging_type"] for b in bodies} == {"RESPONSE"}
    assert [p["id"] for p in delivery.parts] == ["m_P1", "m_P2", "m_P3"]


@responses.activate
def test_a_retry_of_a_long_text_sends_only_the_pieces_not_sent(
    page: ChannelAccount, agent: Any
) -> None:
    from channels_in.errors import DeliveryError

    responses.post(SEND, json={"recipient_id": PSID, "message_id": "m_P1"})
    responses.post(SEND, json={"recipient_id": PSID, "message_id": "m_P2"})
    responses.post(SEND, status=500, json={"error": {"message": "An unknown error", "code": 1}})
    delivery = _reply(agent, text=LONG, age=timedelta(days=2))
    with pytest.raises(DeliveryError):
        delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "queued"
    assert "Not sent: part 3 of 3 of the text" in delivery.error

    responses.replace(responses.POST, SEND, json={"recipient_id": PSID, "message_id": "m_P3"})
    delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.provider_id) == ("sent", "m_P3")
    bodies = [json.loads(c.request.body) for c in responses.calls]
    assert len(bodies) == 4 and bodies[3] == bodies[2]  # only the third piece again
    assert {b["tag"] for b in bodies} == {"HUMAN_AGENT"}
    assert_pieces_of(LONG, [b["message"]["text"] for b in bodies[:3]], 2000)


@responses.activate
def test_a_long_text_with_a_file_goes_as_its_messages_then_the_file(
    page: ChannelAccount, agent: Any
) -> None:
    responses.post(SEND, json={"recipient_id": PSID, "message_id": "m_ANY"})
    delivery = _reply_with_files(agent, [PDF], text=LONG)
    delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "sent"
    *texts, upload = (c.request for c in responses.calls)
    assert_pieces_of(LONG, [json.loads(t.body)["message"]["text"] for t in texts], 2000)
    assert b'name="filedata"; filename="invoice.pdf"' in upload.body


def test_a_replayed_body_is_stored_and_processed_once(page: ChannelAccount) -> None:
    payload = body(message("m_replay", "Can I change my delivery address?"))
    assert post(payload).status_code == 200
    assert post(payload).status_code == 200
    process_received()
    assert Message.objects.filter(external_id__contains="m_replay").count() == 1
    assert Message.objects.count() == 1

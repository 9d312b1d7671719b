"""Telegram: the bot webhook (secret token), updates to tickets, replies via sendMessage."""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses
from django.test import Client

from channels_in.errors import DeliveryError
from channels_in.models import ChannelAccount, ChannelKind, InboundMessage, OutboundDelivery
from channels_in.services import delivery_send
from tests.channels_in.chat_support import FAST_HASHERS
from tests.channels_in.provider_support import process_received
from tests.channels_in.test_parts import assert_pieces_of
from tickets import services
from tickets.models import Identity, Message, Ticket

pytestmark = pytest.mark.django_db

API = "https://api.telegram.org"
TOKEN = "123456:ABC-test-token"
SECRET = "s3cret-token_abc"
URL = "/channels/telegram/support-bot/webhook/"


@pytest.fixture(autouse=True)
def fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = FAST_HASHERS


@pytest.fixture
def bot(support: Any, monkeypatch: pytest.MonkeyPatch) -> ChannelAccount:
    monkeypatch.setenv("TG_TOKEN", TOKEN)
    monkeypatch.setenv("TG_SECRET", SECRET)
    return ChannelAccount.objects.create(
        kind=ChannelKind.TELEGRAM,
        name="support-bot",
        group=support,
        config={"bot_token_env": "TG_TOKEN", "webhook_secret_env": "TG_SECRET"},
    )


def update(update_id: int = 10000, **message: Any) -> dict[str, Any]:
    """An Update as the Bot API documents it, from a private chat."""
    person = {
        "id": 1111111,
        "is_bot": False,
        "first_name": "Tess",
        "last_name": "Gram",
        "username": "tessg",
        "language_code": "en",
    }
    body = {
        "message_id": 1365,
        "from": person,
        "chat": {
            "id": 1111111,
            "first_name": "Tess",
            "last_name": "Gram",
            "username": "tessg",
            "type": "private",
        },
        "date": 1763900000,
        **message,
    }
    return {"update_id": update_id, "message": body}


def post(payload: Any, secret: str | None = SECRET) -> Any:
    headers = {"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": secret} if secret is not None else {}
    return Client().post(URL, payload, content_type="application/json", **headers)


def test_it_stores_a_verified_update_and_threads_it_into_a_ticket(bot: ChannelAccount) -> None:
    response = post(update(text="My parcel is late"))
    assert response.status_code == 200
    stored = InboundMessage.objects.get()
    assert stored.external_id == "update:10000" and b"My parcel is late" in bytes(stored.raw)
    [done] = process_received()
    assert done.status == InboundMessage.Status.PROCESSED
    ticket = Ticket.objects.get(pk=done.ticket_id)
    assert (ticket.channel, ticket.group_id, ticket.subject) == (
        "telegram",
        bot.group_id,
        "My parcel is late",
    )
    identity = ticket.contact.identities.get()
    assert (identity.kind, identity.value) == (Identity.Kind.TELEGRAM, "1111111")
    assert ticket.contact.name == "Tess Gram"
    # the same update delivered again changes nothing
    assert post(update(text="My parcel is late")).status_code == 200
    assert InboundMessage.objects.count() == 1
    # the customer's next message joins the open ticket
    post(update(10001, message_id=1366, text="Any news?"))
    process_received()
    assert Ticket.objects.get().messages.count() == 2


@pytest.mark.parametrize("secret", [None, "", "wrong-secret"])
def test_a_forged_update_is_refused_and_nothing_is_stored(
    bot: ChannelAccount, secret: str | None
) -> None:
    assert post(update(text="hi"), secret=secret).status_code == 403
    assert InboundMessage.objects.count() == 0


@responses.activate
def test_it_downloads_a_photo_through_the_bot_api(bot: ChannelAccount) -> None:
    responses.post(
        f"{API}/bot{TOKEN}/getFile",
        json={
            "ok": True,
            "result": {
                "file_id": "AgADbig",
                "file_unique_id": "u2",
                "file_size": 5,
                "file_path": "photos/file_7.jpg",
            },
        },
    )
    responses.get(
        f"{API}/file/bot{TOKEN}/photos/file_7.jpg", body=b"\xff\xd8jpg", content_type="image/jpeg"
    )
    post(
        update(
            caption="The box arrived like this",
            photo=[
                {
                    "file_id": "AgADsmall",
                    "file_unique_id": "u1",
                    "file_size": 1,
                    "width": 90,
                    "height": 60,
                },
                {
                    "file_id": "AgADbig",
                    "file_unique_id": "u2",
                    "file_size": 5,
                    "width": 800,
                    "height": 600,
                },
            ],
        )
    )
    [done] = process_received()
    message = Ticket.objects.get(pk=done.ticket_id).messages.get()
    assert message.text == "The box arrived like this"
    attachment = message.attachments.get()
    assert (attachment.filename, attachment.content_type, attachment.size) == (
        "file_7.jpg",
        "image/jpeg",
        5,
    )
    assert message.metadata["media"][0]["file_id"] == "AgADbig"


@responses.activate
def test_a_failed_download_keeps_the_message_and_says_why(bot: ChannelAccount) -> None:
    responses.post(
        f"{API}/bot{TOKEN}/getFile",
        status=400,
        json={"ok": False, "error_code": 400, "description": "Bad Request: file is too big"},
    )
    post(
        update(
            document={
                "file_id": "BQAD",
                "file_unique_id": "d1",
                "file_name": "invoice.pdf",
                "mime_type": "application/pdf",
            }
        )
    )
    [done] = process_received()
    message = Ticket.objects.get(pk=done.ticket_id).messages.get()
    assert "file is too big" in message.text
    assert message.metadata["media"][0]["file_name"] == "invoice.pdf"


def test_a_location_becomes_readable_text(bot: ChannelAccount) -> None:
    post(update(location={"latitude": 52.520008, "longitude": 13.404954}))
    [done] = process_received()
    message = Ticket.objects.get(pk=done.ticket_id).messages.get()
    assert "52.520008, 13.404954" in message.text and "openstreetmap.org" in message.text
    assert message.metadata["location"] == {
        "latitude": 52.520008,
        "longitude": 13.404954,
        "title": "",
    }


def test_an_unknown_update_is_stored_as_failed_not_dropped(bot: ChannelAccount) -> None:
    post({"update_id": 10009, "callback_query": {"id": "4382", "data": "yes"}})
    [done] = process_received()
    assert done.status == InboundMessage.Status.FAILED
    assert "callback_query" in done.reason and Ticket.objects.count() == 0


def _reply(
    bot: ChannelAccount, agent: Any, text: str = "Hi Tess, it ships today."
) -> OutboundDelivery:
    post(update(text="hello"))
    [done] = process_received()
    message = services.ticket_reply(
        ticket=Ticket.objects.get(pk=done.ticket_id), author=agent, text=text
    )
    return OutboundDelivery.objects.get(message=message)


@responses.activate
def test_an_agent_reply_is_sent_with_sendmessage(bot: ChannelAccount, agent: Any) -> None:
    sent = responses.post(
        f"{API}/bot{TOKEN}/sendMessage",
        json={
            "ok": True,
            "result": {
                "message_id": 1400,
                "chat": {"id": 1111111, "type": "private"},
                "date": 1763900100,
                "text": "Hi Tess, it ships today.",
            },
        },
    )
    delivery = _reply(bot, agent)
    delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.provider_id) == ("sent", "1111111:1400")
    assert sent.calls[0].request.body == (
        b'{"chat_id": "1111111", "text": "Hi Tess, it ships today."}'
    )


@responses.activate
def test_a_blocked_bot_fails_the_delivery_visibly_and_a_hiccup_is_retried(
    bot: ChannelAccount, agent: Any
) -> None:
    responses.post(f"{API}/bot{TOKEN}/sendMessage", status=502, body="Bad Gateway")
    delivery = _reply(bot, agent)
    with pytest.raises(DeliveryError):
        delivery_send(delivery_id=delivery.pk)  # transient: the task retries it
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("queued", 1) and "502" in delivery.error
    responses.replace(
        responses.POST,
        f"{API}/bot{TOKEN}/sendMessage",
        status=403,
        json={
            "ok": False,
            "error_code": 403,
            "description": "Forbidden: bot was blocked by the user",
        },
    )
    delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "failed" and "blocked by the user" in delivery.error


def _reply_with_files(
    bot: ChannelAccount, agent: Any, files: list[tuple[str, bytes]], text: str
) -> OutboundDelivery:
    from tickets.types import IncomingAttachment

    if not Ticket.objects.exists():
        post(update(text="hello"))
        process_received()
    message = services.ticket_reply(
        ticket=Ticket.objects.get(),
        author=agent,
        text=text,
        attachments=[
            IncomingAttachment(filename=name, content_type="application/pdf", payload=payload)
            for name, payload in files
        ],
    )
    return OutboundDelivery.objects.get(message=message)


def _sent_message(message_id: int) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "chat": {"id": 1111111, "type": "private"},
        "date": 1763900100,
        "document": {"file_name": "invoice.pdf", "file_id": "BQACAgQ", "file_unique_id": "AgAD"},
    }


@responses.activate
def test_a_reply_with_a_file_is_uploaded_with_its_text_as_caption(
    bot: ChannelAccount, agent: Any
) -> None:
    sent = responses.post(
        f"{API}/bot{TOKEN}/sendDocument", json={"ok": True, "result": _sent_message(1401)}
    )
    delivery = _reply_with_files(
        bot, agent, [("invoice.pdf", b"%PDF-1.4 invoice")], "Here is your invoice."
    )
    delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.provider_id) == ("sent", "1111111:1401")
    request = sent.calls[0].request
    assert request.headers["Content-Type"].startswith("multipart/form-data")
    body = request.body
    assert b'name="chat_id"\r\n\r\n1111111' in body
    assert b'name="caption"\r\n\r\nHere is your invoice.' in body
    assert b'name="document"; filename="invoice.pdf"' in body and b"%PDF-1.4 invoice" in body


@responses.activate
def test_several_files_go_as_one_album_and_too_many_fail_visibly(
    bot: ChannelAccount, agent: Any
) -> None:
    sent = responses.post(
        f"{API}/bot{TOKEN}/sendMediaGroup",
        json={"ok": True, "result": [_sent_message(1402), _sent_message(1403)]},
    )
    delivery = _reply_with_files(
        bot, agent, [("a.pdf", b"first"), ("b.pdf", b"second")], "Both documents."
    )
    delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.provider_id) == ("sent", "1111111:1403")
    body = sent.calls[0].request.body
    media = (
        b'[{"type": "document", "media": "attach://file0"}, '
        b'{"type": "document", "media": "attach://file1", "caption": "Both documents."}]'
    )
    assert media in body
    assert b'name="file0"; filename="a.pdf"' in body and b'name="file1"; filename="b.pdf"' in body

    too_many = _reply_with_files(
        bot, agent, [(f"{n}.pdf", b"x") for n in range(11)], "Eleven files."
    )
    delivery_send(delivery_id=too_many.pk)  # no call: nothing half-sent
    too_many.refresh_from_db()
    assert too_many.status == "failed" and "at most 10 files" in too_many.error
    assert len(sent.calls) == 1


# About 6,100 characters: two Telegram messages of at most 4,096.
LONG = "\n\n".join(
    f"Step {n}: " + "Open Settings, then check the value shown there. " * 10 for n in range(1, 13)
)
SEND_MESSAGE = f"{API}/bot{TOKEN}/sendMessage"


def _sent_text(message_id: int) -> dict[str, Any]:
    return {
        "ok": True,
        "result": {
            "message_id": message_id,
            "chat": {"id": 1111111, "type": "private"},
            "date": 1763900100,
            "text": "…",
        },
    }


@responses.activate
def test_a_text_longer_than_a_message_goes_as_several_in_order_nothing_cut(
    bot: ChannelAccount, agent: Any
) -> None:
    responses.post(SEND_MESSAGE, json=_sent_text(1500))
    responses.post(SEND_MESSAGE, json=_sent_text(1501))
    delivery = _reply(bot, agent, text=LONG)
    delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.provider_id) == ("sent", "1111111:1501")
    payloads = [json.loads(c.request.body) for c in responses.calls]
    assert {p["chat_id"] for p in payloads} == {"1111111"}
    pieces = [p["text"] for p in payloads]
    assert len(pieces) == 2 and pieces[1].startswith("Step ")  # cut between paragraphs
    assert_pieces_of(LONG, pieces, 4096)


@responses.activate
def test_a_retry_of_a_long_text_sends_only_the_pieces_not_sent(
    bot: ChannelAccount, agent: Any
) -> None:
    responses.post(SEND_MESSAGE, json=_sent_text(1500))
    responses.post(SEND_MESSAGE, status=502, body="Bad Gateway")
    delivery = _reply(bot, agent, text=LONG)
    with pytest.raises(DeliveryError) as failed:
        delivery_send(delivery_id=delivery.pk)
    assert not failed.value.permanent
    delivery.refresh_from_db()
    assert "Sent: part 1 of 2 of the text. Not sent: part 2 of 2 of the text" in delivery.error

    responses.replace(responses.POST, SEND_MESSAGE, json=_sent_text(1502))
    delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.provider_id) == ("sent", "1111111:1502")
    first, failed_second, retried = (json.loads(c.request.body)["text"] for c in responses.calls)
    assert retried == failed_second != first
    assert_pieces_of(LONG, [first, retried], 4096)


@responses.activate
def test_a_text_too_long_for_a_caption_goes_as_messages_before_the_file(
    bot: ChannelAccount, agent: Any
) -> None:
    responses.post(SEND_MESSAGE, json=_sent_text(1600))
    responses.post(SEND_MESSAGE, json=_sent_text(1601))
    document = responses.post(
        f"{API}/bot{TOKEN}/sendDocument", json={"ok": True, "result": _sent_message(1602)}
    )
    delivery = _reply_with_files(bot, agent, [("invoice.pdf", b"%PDF-1.4 invoice")], LONG)
    delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.provider_id) == ("sent", "1111111:1602")
    *texts, upload = (c.request for c in responses.calls)
    assert_pieces_of(LONG, [json.loads(t.body)["text"] for t in texts], 4096)
    assert upload is document.calls[0].request
    assert b'name="caption"' not in upload.body  # the text went above it
    assert b'filename="invoice.pdf"' in upload.body


def test_a_replayed_update_is_stored_and_processed_once(bot: ChannelAccount) -> None:
    """Telegram proves itself with a fixed secret header, not a per-request token: the
    update_id keeps a repeated update to one row and one message."""
    assert post(update(text="My parcel is late")).status_code == 200
    assert post(update(text="My parcel is late")).status_code == 200
    assert InboundMessage.objects.count() == 1
    process_received()
    assert Message.objects.count() == 1

"""WhatsApp Cloud API: the verification handshake, signed webhooks with messages and statuses,
replies through the Graph API inside the 24-hour window, a template outside it."""

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

GRAPH = "https://graph.facebook.com/v21.0"
APP_SECRET = "whatsapp-app-secret"
URL = "/channels/whatsapp/wa-main/webhook/"
WA_ID = "16315551234"


@pytest.fixture(autouse=True)
def fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = FAST_HASHERS


@pytest.fixture
def number(support: Any, monkeypatch: pytest.MonkeyPatch) -> ChannelAccount:
    monkeypatch.setenv("WA_TOKEN", "EAAG-access-token")
    monkeypatch.setenv("WA_SECRET", APP_SECRET)
    monkeypatch.setenv("WA_VERIFY", "verify-me")
    return ChannelAccount.objects.create(
        kind=ChannelKind.WHATSAPP,
        name="wa-main",
        group=support,
        config={
            "phone_number_id": "106540352242922",
            "access_token_env": "WA_TOKEN",
            "app_secret_env": "WA_SECRET",
            "verify_token_env": "WA_VERIFY",
        },
    )


def webhook(
    *,
    messages: list[Any] = (),
    statuses: list[Any] = (),  # type: ignore[assignment]
    extra_changes: list[Any] = (),
) -> dict[str, Any]:  # type: ignore[assignment]
    """A webhook body shaped as the Cloud API documents it."""
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": "106540352242922"},
    }
    if messages:
        value["contacts"] = [{"profile": {"name": "Kerry Fisher"}, "wa_id": WA_ID}]
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [{"value": value, "field": "messages"}, *extra_changes],
            }
        ],
    }


def text_message(wamid: str, body: str, ts: int | None = None) -> dict[str, Any]:
    return {
        "from": WA_ID,
        "id": wamid,
        "timestamp": str(ts or int(timezone.now().timestamp())),
        "text": {"body": body},
        "type": "text",
    }


def post(payload: Any, secret: str = APP_SECRET, signature: str | None = None) -> Any:
    body, good = hub_signed(secret, payload)
    return Client().post(
        URL,
        body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=good if signature is None else signature,
    )


def test_it_answers_the_verification_handshake_only_with_our_token(number: ChannelAccount) -> None:
    ok = Client().get(
        URL,
        {"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "1158201444"},
    )
    assert (ok.status_code, ok.content) == (200, b"1158201444")
    bad = Client().get(
        URL, {"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1158201444"}
    )
    assert bad.status_code == 403


def test_a_signed_message_is_stored_and_threaded(number: ChannelAccount) -> None:
    response = post(webhook(messages=[text_message("wamid.HBgLMTY1", "Hi, is my order shipped?")]))
    assert response.status_code == 200
    envelope, row = InboundMessage.objects.order_by("id")
    assert envelope.status == "ignored" and envelope.external_id.startswith("body:")
    assert row.external_id == "wamid.HBgLMTY1"
    [done] = process_received()
    ticket = Ticket.objects.get(pk=done.ticket_id)
    assert (ticket.channel, ticket.subject) == ("whatsapp", "Hi, is my order shipped?")
    identity = ticket.contact.identities.get()
    assert (identity.kind, identity.value) == (Identity.Kind.WHATSAPP, "+16315551234")
    assert ticket.contact.name == "Kerry Fisher"


@pytest.mark.parametrize("signature", ["", "sha256=" + "0" * 64, "sha1=abc"])
def test_a_forged_webhook_is_refused_and_nothing_is_stored(
    number: ChannelAccount, signature: str
) -> None:
    assert (
        post(webhook(messages=[text_message("wamid.X", "hi")]), signature=signature).status_code
        == 403
    )
    assert (
        post(
            webhook(messages=[text_message("wamid.X", "hi")]), secret="not-the-app-secret"
        ).status_code
        == 403
    )
    assert InboundMessage.objects.count() == 0


def test_a_webhook_body_of_many_events_stores_each_on_its_own(number: ChannelAccount) -> None:
    post(
        webhook(
            messages=[text_message("wamid.A1", "first"), text_message("wamid.A2", "second")],
            extra_changes=[{"field": "account_update", "value": {"event": "VERIFIED"}}],
        )
    )
    results = {row.external_id: row for row in process_received()}
    assert results["wamid.A1"].ticket_id == results["wamid.A2"].ticket_id
    [unknown] = [r for key, r in results.items() if key.startswith("change:")]
    assert unknown.status == "failed" and "account_update" in unknown.reason


@responses.activate
def test_it_downloads_media_and_reads_locations(number: ChannelAccount) -> None:
    cdn = "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1037543291543636"
    responses.get(
        f"{GRAPH}/1037543291543636",
        json={
            "messaging_product": "whatsapp",
            "url": cdn,
            "mime_type": "image/jpeg",
            "sha256": "e3b0c442",
            "file_size": "4",
            "id": "1037543291543636",
        },
    )
    responses.get(cdn, body=b"\xff\xd8ok", content_type="image/jpeg")
    now = str(int(timezone.now().timestamp()))
    post(
        webhook(
            messages=[
                {
                    "from": WA_ID,
                    "id": "wamid.IMG",
                    "timestamp": now,
                    "type": "image",
                    "image": {
                        "caption": "The screen is cracked",
                        "mime_type": "image/jpeg",
                        "sha256": "e3b0c442",
                        "id": "1037543291543636",
                    },
                },
                {
                    "from": WA_ID,
                    "id": "wamid.LOC",
                    "timestamp": now,
                    "type": "location",
                    "location": {
                        "latitude": 48.8583701,
                        "longitude": 2.2944813,
                        "name": "Tour Eiffel",
                        "address": "Champ de Mars, Paris",
                    },
                },
            ]
        )
    )
    process_received()
    image = Message.objects.get(external_id="wamid.IMG")
    assert image.text == "The screen is cracked"
    assert image.attachments.get().content_type == "image/jpeg"
    assert responses.calls[0].request.headers["Authorization"] == "Bearer EAAG-access-token"
    place = Message.objects.get(external_id="wamid.LOC")
    assert "Tour Eiffel — Champ de Mars, Paris" in place.text and "48.858370" in place.text
    assert place.metadata["location"]["longitude"] == 2.2944813


def _reply(
    agent: Any, customer_said_at: Any = None, text: str = "It was sent yesterday."
) -> OutboundDelivery:
    post(webhook(messages=[text_message("wamid.IN", "Where is my refund?")]))
    [done] = process_received()
    if customer_said_at is not None:
        Message.objects.filter(pk=done.message_id).update(created_at=customer_said_at)
    reply = services.ticket_reply(
        ticket=Ticket.objects.get(pk=done.ticket_id), author=agent, text=text
    )
    return OutboundDelivery.objects.get(message=reply)


@responses.activate
def test_a_reply_inside_the_window_is_sent_and_statuses_follow_it(
    number: ChannelAccount, agent: Any
) -> None:
    sent = responses.post(
        f"{GRAPH}/106540352242922/messages",
        json={
            "messaging_product": "whatsapp",
            "contacts": [{"input": WA_ID, "wa_id": WA_ID}],
            "messages": [{"id": "wamid.OUT1"}],
        },
    )
    delivery = _reply(agent)
    delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.provider_id) == ("sent", "wamid.OUT1")
    payload = json.loads(sent.calls[0].request.body)
    assert payload == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": WA_ID,
        "type": "text",
        "text": {"preview_url": False, "body": "It was sent yesterday."},
    }

    status = {"id": "wamid.OUT1", "timestamp": "1763900000", "recipient_id": WA_ID}
    post(webhook(statuses=[{**status, "status": "delivered"}]))
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    post(webhook(statuses=[{**status, "status": "read"}]))
    post(webhook(statuses=[{**status, "status": "delivered"}]))  # late: never moves back
    delivery.refresh_from_db()
    assert delivery.status == "read"
    receipt = InboundMessage.objects.get(external_id="status:wamid.OUT1:read")
    assert receipt.status == "processed" and "1 delivery" in receipt.reason


@responses.activate
def test_a_failed_status_shows_on_the_delivery(number: ChannelAccount, agent: Any) -> None:
    responses.post(f"{GRAPH}/106540352242922/messages", json={"messages": [{"id": "wamid.OUT2"}]})
    delivery = _reply(agent)
    delivery_send(delivery_id=delivery.pk)
    post(
        webhook(
            statuses=[
                {
                    "id": "wamid.OUT2",
                    "status": "failed",
                    "timestamp": "1763900000",
                    "recipient_id": WA_ID,
                    "errors": [{"code": 131026, "title": "Message undeliverable"}],
                }
            ]
        )
    )
    delivery.refresh_from_db()
    assert delivery.status == "failed" and "Message undeliverable" in delivery.error


def test_outside_the_24_hour_window_a_free_form_reply_fails_with_the_reason(
    number: ChannelAccount, agent: Any
) -> None:
    delivery = _reply(agent, customer_said_at=timezone.now() - timedelta(hours=25))
    delivery_send(delivery_id=delivery.pk)  # no HTTP call at all: `responses` is not active
    delivery.refresh_from_db()
    assert delivery.status == "failed" and "24 hours" in delivery.error


@responses.activate
def test_outside_the_window_the_approved_template_is_sent(
    number: ChannelAccount, agent: Any
) -> None:
    number.config = {
        **number.config,
        "template_name": "support_follow_up",
        "template_language": "en",
    }
    number.save()
    sent = responses.post(
        f"{GRAPH}/106540352242922/messages", json={"messages": [{"id": "wamid.TPL"}]}
    )
    delivery = _reply(agent, customer_said_at=timezone.now() - timedelta(days=3))
    delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.provider_id) == ("sent", "wamid.TPL")
    payload = json.loads(sent.calls[0].request.body)
    assert payload["type"] == "template"
    assert payload["template"] == {
        "name": "support_follow_up",
        "language": {"code": "en"},
        "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "It was sent yesterday."}]}
        ],
    }


@responses.activate
def test_a_rejected_send_is_permanent_and_an_outage_is_retried(
    number: ChannelAccount, agent: Any
) -> None:
    from channels_in.errors import DeliveryError

    responses.post(
        f"{GRAPH}/106540352242922/messages",
        status=503,
        json={"error": {"message": "Service temporarily unavailable", "code": 2}},
    )
    delivery = _reply(agent)
    with pytest.raises(DeliveryError):
        delivery_send(delivery_id=delivery.pk)
    responses.replace(
        responses.POST,
        f"{GRAPH}/106540352242922/messages",
        status=400,
        json={
            "error": {
                "message": "(#131030) Recipient phone number not in allowed list",
                "type": "OAuthException",
                "code": 131030,
            }
        },
    )
    delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "failed" and "131030" in delivery.error


def _whatsapp_label(ticket: Ticket) -> str:
    from tickets.selectors import reply_channels, ticket_for_page

    return dict(reply_channels(ticket_for_page(ticket)))["whatsapp"]


def test_the_composer_tells_the_agent_what_the_24_hour_window_allows(
    number: ChannelAccount, agent: Any, client: Client
) -> None:
    post(webhook(messages=[text_message("wamid.IN", "Where is my refund?")]))
    [done] = process_received()
    ticket = Ticket.objects.get(pk=done.ticket_id)
    said = Message.objects.get(pk=done.message_id)
    assert _whatsapp_label(ticket) == (
        f"WhatsApp · +{WA_ID} — free text until "
        f"{timezone.localtime(said.created_at + timedelta(hours=24)):%Y-%m-%d %H:%M}"
    )

    Message.objects.filter(pk=said.pk).update(created_at=timezone.now() - timedelta(hours=25))
    assert _whatsapp_label(ticket).endswith(
        "outside the 24-hour window and no approved template: this reply cannot be sent"
    )

    number.config = {**number.config, "template_name": "support_follow_up"}
    number.save()
    assert _whatsapp_label(ticket).endswith(
        "outside the 24-hour window: sends the approved template “support_follow_up” with your "
        "text; a reply with files is not sent"
    )
    number.config = {**number.config, "template_takes_text": False}
    number.save()
    assert _whatsapp_label(ticket).endswith(
        "(your text is not sent); a reply with files is not sent"
    )

    client.force_login(agent)
    page = client.get(f"/desk/tickets/{ticket.number}/")
    assert "sends the approved template “support_follow_up”" in page.content.decode()


# --- replies with files ------------------------------------------------------------------------

MEDIA = f"{GRAPH}/106540352242922/media"
MESSAGES = f"{GRAPH}/106540352242922/messages"
PDF = ("invoice.pdf", "application/pdf", b"%PDF-1.4 invoice")
PNG = ("photo.png", "image/png", b"\x89PNG\r\n\x1a\n photo")


def _reply_with_files(
    agent: Any, files: list[tuple[str, str, bytes]], text: str = "Here are both."
) -> OutboundDelivery:
    from tickets.types import IncomingAttachment

    if not Ticket.objects.exists():
        post(webhook(messages=[text_message("wamid.IN", "Where is my refund?")]))
        process_received()
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


def _accepted(wamid: str) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "contacts": [{"input": WA_ID, "wa_id": WA_ID}],
        "messages": [{"id": wamid}],
    }


def _sent_payloads(calls: Any) -> list[dict[str, Any]]:
    return [json.loads(call.request.body) for call in calls]


@responses.activate
def test_each_file_is_uploaded_then_sent_with_the_text_as_the_first_caption(
    number: ChannelAccount, agent: Any
) -> None:
    uploads = [
        responses.post(MEDIA, json={"id": "1013859600285441"}),
        responses.post(MEDIA, json={"id": "1013859600285442"}),
    ]
    messages = [
        responses.post(MESSAGES, json=_accepted("wamid.DOC")),
        responses.post(MESSAGES, json=_accepted("wamid.IMG")),
    ]
    delivery = _reply_with_files(agent, [PDF, PNG])
    delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.provider_id) == ("sent", "wamid.IMG")

    first_upload = uploads[0].calls[0].request
    assert first_upload.headers["Content-Type"].startswith("multipart/form-data")
    assert first_upload.headers["Authorization"] == "Bearer EAAG-access-token"
    assert b'name="messaging_product"\r\n\r\nwhatsapp' in first_upload.body
    assert b'name="type"\r\n\r\napplication/pdf' in first_upload.body
    assert b'name="file"; filename="invoice.pdf"' in first_upload.body
    assert b"%PDF-1.4 invoice" in first_upload.body
    second_upload = uploads[1].calls[0].request.body
    assert b'name="type"\r\n\r\nimage/png' in second_upload and b"photo" in second_upload

    base = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": WA_ID}
    assert _sent_payloads([messages[0].calls[0], messages[1].calls[0]]) == [
        {
            **base,
            "type": "document",
            "document": {
                "id": "1013859600285441",
                "caption": "Here are both.",
                "filename": "invoice.pdf",
            },
        },
        {**base, "type": "image", "image": {"id": "1013859600285442"}},
    ]
    assert [(p["media_id"], p["id"]) for p in delivery.parts] == [
        ("1013859600285441", "wamid.DOC"),
        ("1013859600285442", "wamid.IMG"),
    ]


@responses.activate
def test_a_long_text_or_an_audio_file_first_sends_the_text_on_its_own(
    number: ChannelAccount, agent: Any
) -> None:
    responses.post(MEDIA, json={"id": "2000000000000001"})
    sent = responses.post(MESSAGES, json=_accepted("wamid.ANY"))
    voice = ("answer.ogg", "audio/ogg", b"OggS voice")
    delivery = _reply_with_files(agent, [voice], text="Listen to this.")
    delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "sent"
    text, audio = _sent_payloads(sent.calls)
    assert text["type"] == "text" and text["text"]["body"] == "Listen to this."
    assert audio["type"] == "audio" and audio["audio"] == {"id": "2000000000000001"}

    long_text = "Details. " * 120  # over the 1,024 characters a caption may have
    delivery = _reply_with_files(agent, [PDF], text=long_text)
    delivery_send(delivery_id=delivery.pk)
    text, document = _sent_payloads(sent.calls[2:])
    assert text["type"] == "text" and text["text"]["body"] == long_text
    assert document["document"] == {"id": "2000000000000001", "filename": "invoice.pdf"}


@responses.activate
def test_a_retry_after_a_partial_send_sends_only_what_is_missing(
    number: ChannelAccount, agent: Any
) -> None:
    from channels_in.errors import DeliveryError

    uploads = responses.post(MEDIA, json={"id": "3000000000000001"})
    responses.post(MESSAGES, json=_accepted("wamid.DOC"))
    responses.post(
        MESSAGES, status=503, json={"error": {"message": "Service unavailable", "code": 2}}
    )
    delivery = _reply_with_files(agent, [PDF, PNG])
    with pytest.raises(DeliveryError) as failed:
        delivery_send(delivery_id=delivery.pk)
    assert not failed.value.permanent
    delivery.refresh_from_db()
    assert delivery.status == "queued"
    assert "Sent: invoice.pdf with the text. Not sent: photo.png" in delivery.error
    assert (len(uploads.calls), len(responses.calls)) == (2, 4)

    responses.replace(responses.POST, MESSAGES, json=_accepted("wamid.IMG"))
    delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.provider_id) == ("sent", "wamid.IMG")
    retried = responses.calls[4:]
    assert [c.request.url for c in retried] == [MESSAGES]  # no upload, no second document
    assert json.loads(retried[0].request.body)["image"] == {"id": "3000000000000001"}


@responses.activate
def test_a_refused_part_fails_the_reply_saying_what_went_out(
    number: ChannelAccount, agent: Any
) -> None:
    responses.post(MEDIA, json={"id": "4000000000000001"})
    responses.post(MESSAGES, json=_accepted("wamid.DOC"))
    responses.post(
        MESSAGES,
        status=400,
        json={"error": {"message": "(#131053) Media upload error", "code": 131053}},
    )
    delivery = _reply_with_files(agent, [PDF, PNG])
    delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "failed"
    assert "only part of this reply went out" in delivery.error
    assert "Sent: invoice.pdf with the text. Not sent: photo.png" in delivery.error
    event = delivery.message.ticket.events.filter(kind="delivery").latest("id")
    assert event.new["status"] == "failed" and "Not sent: photo.png" in event.new["detail"]


@responses.activate
def test_a_file_the_api_will_not_take_fails_the_reply_before_anything_is_sent(
    number: ChannelAccount, agent: Any
) -> None:
    responses.post(
        MEDIA,
        status=400,
        json={"error": {"message": "(#100) Param file must be a file", "code": 100}},
    )
    delivery = _reply_with_files(agent, [PDF])
    delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "failed" and "Param file must be a file" in delivery.error
    assert [c.request.url for c in responses.calls] == [MEDIA]

    big = ("scan.png", "image/png", b"\x89PNG" + b"0" * (5 * 1024 * 1024))
    too_big = _reply_with_files(agent, [big])
    delivery_send(delivery_id=too_big.pk)
    too_big.refresh_from_db()
    assert too_big.status == "failed" and "scan.png (6 MB, image limit 5 MB)" in too_big.error
    assert len(responses.calls) == 1


def test_outside_the_window_a_reply_with_files_fails_and_nothing_is_sent(
    number: ChannelAccount, agent: Any
) -> None:
    number.config = {**number.config, "template_name": "support_follow_up"}
    number.save()
    delivery = _reply_with_files(agent, [PDF])
    Message.objects.filter(kind="customer").update(created_at=timezone.now() - timedelta(days=2))
    delivery_send(delivery_id=delivery.pk)  # no HTTP call at all: `responses` is not active
    delivery.refresh_from_db()
    assert delivery.status == "failed"
    assert "carries no files; nothing was sent" in delivery.error


@responses.activate
def test_an_earlier_file_that_fails_to_arrive_fails_the_reply(
    number: ChannelAccount, agent: Any
) -> None:
    responses.post(MEDIA, json={"id": "5000000000000001"})
    responses.post(MESSAGES, json=_accepted("wamid.DOC"))
    responses.post(MESSAGES, json=_accepted("wamid.IMG"))
    delivery = _reply_with_files(agent, [PDF, PNG])
    delivery_send(delivery_id=delivery.pk)
    status = {"timestamp": "1763900000", "recipient_id": WA_ID}
    post(webhook(statuses=[{**status, "id": "wamid.IMG", "status": "delivered"}]))
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    post(
        webhook(
            statuses=[
                {
                    **status,
                    "id": "wamid.DOC",
                    "status": "failed",
                    "errors": [{"code": 131053, "title": "Media upload error"}],
                }
            ]
        )
    )
    delivery.refresh_from_db()
    assert delivery.status == "failed"
    assert "invoice.pdf with the text not delivered: 131053: Media upload error" in delivery.error


# About 6,100 characters: two WhatsApp text messages of at most 4,096.
LONG = "\n\n".join(
    f"Step {n}: " + "Open Settings, then check the value shown there. " * 10 for n in range(1, 13)
)


@responses.activate
def test_a_text_longer_than_a_message_goes_as_several_in_order_nothing_cut(
    number: ChannelAccount, agent: Any
) -> None:
    sent = [
        responses.post(MESSAGES, json=_accepted("wamid.P1")),
        responses.post(MESSAGES, json=_accepted("wamid.P2")),
    ]
    delivery = _reply(agent, text=LONG)
    delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.provider_id) == ("sent", "wamid.P2")
    payloads = _sent_payloads(responses.calls)
    assert [p["type"] for p in payloads] == ["text", "text"]
    pieces = [p["text"]["body"] for p in payloads]
    assert_pieces_of(LONG, pieces, 4096)
    assert pieces[0].endswith("there. ") and pieces[1].startswith("Step ")  # a paragraph break
    assert [(p["part"], p["id"]) for p in delivery.parts] == [
        ("text:1", "wamid.P1"),
        ("text:2", "wamid.P2"),
    ]
    assert len(sent[0].calls) == len(sent[1].calls) == 1


@responses.activate
def test_a_retry_of_a_long_text_sends_only_the_pieces_not_sent(
    number: ChannelAccount, agent: Any
) -> None:
    from channels_in.errors import DeliveryError

    responses.post(MESSAGES, json=_accepted("wamid.P1"))
    responses.post(
        MESSAGES, status=503, json={"error": {"message": "Service unavailable", "code": 2}}
    )
    delivery = _reply(agent, text=LONG)
    with pytest.raises(DeliveryError) as failed:
        delivery_send(delivery_id=delivery.pk)
    assert not failed.value.permanent
    delivery.refresh_from_db()
    assert delivery.status == "queued"
    assert "Sent: part 1 of 2 of the text. Not sent: part 2 of 2 of the text" in delivery.error

    responses.replace(responses.POST, MESSAGES, json=_accepted("wamid.P2"))
    delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.provider_id) == ("sent", "wamid.P2")
    first, failed_second, retried = (p["text"]["body"] for p in _sent_payloads(responses.calls))
    assert retried == failed_second != first
    assert_pieces_of(LONG, [first, retried], 4096)


@responses.activate
def test_a_long_text_with_a_file_goes_as_its_messages_then_the_file(
    number: ChannelAccount, agent: Any
) -> None:
    responses.post(MEDIA, json={"id": "6000000000000001"})
    responses.post(MESSAGES, json=_accepted("wamid.ANY"))
    delivery = _reply_with_files(agent, [PDF], text=LONG)
    delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "sent"
    *texts, document = _sent_payloads(responses.calls[1:])
    assert_pieces_of(LONG, [t["text"]["body"] for t in texts], 4096)
    assert len(texts) == 2
    assert document["document"] == {"id": "6000000000000001", "filename": "invoice.pdf"}


@responses.activate
def test_a_template_text_over_its_limit_fails_and_nothing_is_sent(
    number: ChannelAccount, agent: Any
) -> None:
    number.config = {
        **number.config,
        "template_name": "support_follow_up",
        "template_language": "en",
    }
    number.save()
    sent = responses.post(MESSAGES, json=_accepted("wamid.TPL"))
    delivery = _reply(agent, customer_said_at=timezone.now() - timedelta(days=3), text=LONG)
    delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "failed" and "at most 1024 characters" in delivery.error
    assert not sent.calls


def test_a_replayed_body_is_stored_and_processed_once(number: ChannelAccount) -> None:
    """Meta signs the body (HMAC) with no timestamp: a replay is byte for byte the same body,
    kept to one row by its hash and one message by its wamid."""
    payload = webhook(messages=[text_message("wamid.REPLAY1", "Where is my order?")])
    assert post(payload).status_code == 200
    assert post(payload).status_code == 200
    assert InboundMessage.objects.count() == 2  # the envelope and the one message
    process_received()
    assert Message.objects.count() == 1

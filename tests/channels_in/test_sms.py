"""SMS through a Twilio-compatible API: signed posts in, the Messages API out, statuses back."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs, urlencode

import pytest
import responses
from django.test import Client

from channels_in.errors import DeliveryError
from channels_in.models import ChannelAccount, ChannelKind, InboundMessage, OutboundDelivery
from channels_in.services import delivery_send
from tests.channels_in.chat_support import FAST_HASHERS
from tests.channels_in.provider_support import process_received, twilio_signed
from tests.channels_in.test_parts import assert_pieces_of
from tickets import services
from tickets.models import Identity, Message, Ticket

pytestmark = pytest.mark.django_db

SID = "AC1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d"
TOKEN = "twilio-auth-token-123"
API = f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json"
INBOUND = "/channels/sms/sms-main/inbound/"
STATUS = "/channels/sms/sms-main/status/"
CUSTOMER = "+14155550123"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture(autouse=True)
def fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = FAST_HASHERS


@pytest.fixture
def number(support: Any, monkeypatch: pytest.MonkeyPatch) -> ChannelAccount:
    monkeypatch.setenv("TWILIO_TOKEN", TOKEN)
    return ChannelAccount.objects.create(
        kind=ChannelKind.SMS,
        name="sms-main",
        group=support,
        address="+15017122661",
        config={
            "account_sid": SID,
            "auth_token_env": "TWILIO_TOKEN",
            "from_number": "+15017122661",
        },
    )


def inbound_sms(
    sid: str = "SM9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d",
    body: str = "Is the shop open today?",
    **extra: str,
) -> dict[str, str]:
    """The parameters Twilio posts for an incoming message."""
    return {
        "ToCountry": "US",
        "ToState": "CA",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ToCity": "",
        "FromZip": "94105",
        "SmsSid": sid,
        "FromState": "CA",
        "SmsStatus": "received",
        "FromCity": "SAN FRANCISCO",
        "Body": body,
        "FromCountry": "US",
        "To": "+15017122661",
        "ToZip": "",
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": SID,
        "From": CUSTOMER,
        "ApiVersion": "2010-04-01",
        **extra,
    }


def post(
    path: str,
    data: dict[str, str],
    *,
    token: str = TOKEN,
    signed_url: str | None = None,
    signature: str | None = None,
) -> Any:
    url = signed_url or f"http://testserver{path}"
    header = twilio_signed(token, url, data) if signature is None else signature
    return Client().post(path, urlencode(data), content_type=FORM, HTTP_X_TWILIO_SIGNATURE=header)


def test_a_signed_message_becomes_a_ticket(number: ChannelAccount) -> None:
    response = post(INBOUND, inbound_sms())
    assert response.status_code == 200 and b"<Response>" in response.content
    row = InboundMessage.objects.get()
    assert row.external_id == "SM9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d"
    [done] = process_received()
    assert done.status == "processed", done.reason
    ticket = Ticket.objects.get(pk=done.ticket_id)
    assert (ticket.channel, ticket.subject) == ("sms", "Is the shop open today?")
    identity = ticket.contact.identities.get()
    assert (identity.kind, identity.value) == (Identity.Kind.PHONE, CUSTOMER)


def test_forged_or_tampered_posts_are_refused_and_nothing_is_stored(number: ChannelAccount) -> None:
    data = inbound_sms()
    assert post(INBOUND, data, token="not-our-token").status_code == 403
    assert post(INBOUND, data, signature="").status_code == 403
    tampered = twilio_signed(TOKEN, f"http://testserver{INBOUND}", data)
    assert (
        Client()
        .post(
            INBOUND,
            urlencode({**data, "Body": "Send me a refund"}),
            content_type=FORM,
            HTTP_X_TWILIO_SIGNATURE=tampered,
        )
        .status_code
        == 403
    )
    assert (
        post(STATUS, {"MessageSid": "SMx", "MessageStatus": "delivered"}, token="nope").status_code
        == 403
    )
    assert InboundMessage.objects.count() == 0


def test_it_checks_the_signature_against_the_public_url(number: ChannelAccount) -> None:
    number.config = {**number.config, "webhook_base_url": "https://desk.example.com"}
    number.save()
    data = inbound_sms()
    assert post(INBOUND, data).status_code == 403  # signed for the internal URL
    public = f"https://desk.example.com{INBOUND}"
    assert post(INBOUND, data, signed_url=public).status_code == 200


@responses.activate
def test_picture_messages_are_downloaded_with_the_account_credentials(
    number: ChannelAccount,
) -> None:
    media = f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages/MM1/Media/ME1"
    responses.get(media, body=b"GIF89a", content_type="image/gif")
    post(
        INBOUND,
        inbound_sms(
            sid="MM1", body="", NumMedia="1", MediaUrl0=media, MediaContentType0="image/gif"
        ),
    )
    [done] = process_received()
    message = Message.objects.get(pk=done.message_id)
    assert message.attachments.get().content_type == "image/gif"
    assert message.metadata["media"][0]["url"] == media
    expected = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    assert responses.calls[0].request.headers["Authorization"] == expected


def _reply(agent: Any, text: str = "Yes, until 6pm.") -> OutboundDelivery:
    post(INBOUND, inbound_sms())
    [done] = process_received()
    reply = services.ticket_reply(
        ticket=Ticket.objects.get(pk=done.ticket_id), author=agent, text=text
    )
    return OutboundDelivery.objects.get(message=reply)


@responses.activate
def test_a_reply_goes_out_and_its_status_comes_back(number: ChannelAccount, agent: Any) -> None:
    sent = responses.post(
        API,
        status=201,
        json={
            "account_sid": SID,
            "api_version": "2010-04-01",
            "body": "Yes, until 6pm.",
            "direction": "outbound-api",
            "from": "+15017122661",
            "sid": "SMout0001",
            "status": "queued",
            "to": CUSTOMER,
        },
    )
    delivery = _reply(agent)
    delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.provider_id) == ("sent", "SMout0001")
    form = parse_qs(sent.calls[0].request.body)
    assert form["To"] == [CUSTOMER] and form["From"] == ["+15017122661"]
    assert form["Body"] == ["Yes, until 6pm."]
    assert form["StatusCallback"] == ["http://localhost:8000/channels/sms/sms-main/status/"]

    assert (
        post(
            STATUS,
            {
                "MessageSid": "SMout0001",
                "MessageStatus": "delivered",
                "AccountSid": SID,
                "From": "+15017122661",
                "To": CUSTOMER,
                "ApiVersion": "2010-04-01",
            },
        ).status_code
        == 204
    )
    delivery.refresh_from_db()
    assert delivery.status == "delivered"


@responses.activate
def test_an_undelivered_status_fails_the_delivery(number: ChannelAccount, agent: Any) -> None:
    responses.post(API, status=201, json={"sid": "SMout0002", "status": "queued"})
    delivery = _reply(agent)
    delivery_send(delivery_id=delivery.pk)
    post(
        STATUS,
        {
            "MessageSid": "SMout0002",
            "MessageStatus": "undelivered",
            "ErrorCode": "30003",
            "AccountSid": SID,
        },
    )
    delivery.refresh_from_db()
    assert delivery.status == "failed" and "30003" in delivery.error


@responses.activate
def test_provider_errors_are_permanent_or_retried(number: ChannelAccount, agent: Any) -> None:
    responses.post(
        API, status=429, json={"code": 20429, "message": "Too Many Requests", "status": 429}
    )
    delivery = _reply(agent)
    with pytest.raises(DeliveryError):
        delivery_send(delivery_id=delivery.pk)
    responses.replace(
        responses.POST,
        API,
        status=400,
        json={
            "code": 21211,
            "message": f"The 'To' number {CUSTOMER} is not a valid phone number.",
            "more_info": "https://www.twilio.com/docs/errors/21211",
            "status": 400,
        },
    )
    delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "failed" and "21211" in delivery.error


@responses.activate
def test_a_reply_with_files_fails_visibly_and_nothing_is_sent(
    number: ChannelAccount, agent: Any
) -> None:
    from tickets.types import IncomingAttachment

    sent = responses.post(API, status=201, json={"sid": "SMout0003", "status": "queued"})
    post(INBOUND, inbound_sms())
    [done] = process_received()
    reply = services.ticket_reply(
        ticket=Ticket.objects.get(pk=done.ticket_id),
        author=agent,
        text="Here is the map.",
        attachments=[
            IncomingAttachment(filename="map.png", content_type="image/png", payload=b"\x89PNG")
        ],
    )
    delivery = OutboundDelivery.objects.get(message=reply)
    delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "failed"
    assert "SMS cannot carry files" in delivery.error and "map.png" in delivery.error
    assert "nothing was sent" in delivery.error
    assert not sent.calls  # not even the text: a reply never leaves without its files
    event = reply.ticket.events.filter(kind="delivery").latest("id")
    assert event.new["status"] == "failed" and "SMS cannot carry files" in event.new["detail"]


def test_the_composer_says_sms_is_text_only(number: ChannelAccount, agent: Any) -> None:
    from tickets.selectors import reply_channels, ticket_for_page

    post(INBOUND, inbound_sms())
    [done] = process_received()
    ticket = Ticket.objects.get(pk=done.ticket_id)
    assert dict(reply_channels(ticket_for_page(ticket)))["sms"] == (
        f"SMS · {CUSTOMER} — text only: a reply with files is not sent"
    )
    client = Client()
    client.force_login(agent)
    page = client.get(f"/desk/tickets/{ticket.number}/")
    assert "text only: a reply with files is not sent" in page.content.decode()


# About 4,000 characters of words: three messages of at most 1,600.
LONG = " ".join(f"word{n}" for n in range(600))


def _queued(sid: str) -> dict[str, Any]:
    return {"account_sid": SID, "sid": sid, "status": "queued", "to": CUSTOMER}


@responses.activate
def test_a_text_longer_than_a_message_goes_as_several_in_order_nothing_cut(
    number: ChannelAccount, agent: Any
) -> None:
    for n in range(1, 4):
        responses.post(API, status=201, json=_queued(f"SMpart000{n}"))
    delivery = _reply(agent, text=LONG)
    delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.provider_id) == ("sent", "SMpart0003")
    forms = [parse_qs(c.request.body) for c in responses.calls]
    pieces = [f["Body"][0] for f in forms]
    assert len(pieces) == 3
    assert_pieces_of(LONG, pieces, 1600)
    assert " ".join(pieces) == LONG  # cut at spaces, no word split
    assert all(f["StatusCallback"] and f["To"] == [CUSTOMER] for f in forms)


@responses.activate
def test_a_retry_of_a_long_text_sends_only_the_pieces_not_sent(
    number: ChannelAccount, agent: Any
) -> None:
    responses.post(API, status=201, json=_queued("SMpart0001"))
    responses.post(
        API, status=503, json={"code": 20503, "message": "Service unavailable", "status": 503}
    )
    delivery = _reply(agent, text=LONG)
    with pytest.raises(DeliveryError) as failed:
        delivery_send(delivery_id=delivery.pk)
    assert not failed.value.permanent
    delivery.refresh_from_db()
    assert delivery.status == "queued"
    assert "Sent: part 1 of 3 of the text. Not sent: part 2 of 3 of the text" in delivery.error

    responses.replace(responses.POST, API, status=201, json=_queued("SMpart0009"))
    delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.provider_id) == ("sent", "SMpart0009")
    bodies = [parse_qs(c.request.body)["Body"][0] for c in responses.calls]
    assert len(bodies) == 4 and bodies[2] == bodies[1]  # the first piece went only once
    assert " ".join([bodies[0], *bodies[2:]]) == LONG


@responses.activate
def test_an_earlier_piece_undelivered_fails_the_reply_naming_it(
    number: ChannelAccount, agent: Any
) -> None:
    for n in range(1, 4):
        responses.post(API, status=201, json=_queued(f"SMpart000{n}"))
    delivery = _reply(agent, text=LONG)
    delivery_send(delivery_id=delivery.pk)
    post(STATUS, {"MessageSid": "SMpart0003", "MessageStatus": "delivered", "AccountSid": SID})
    post(
        STATUS,
        {
            "MessageSid": "SMpart0001",
            "MessageStatus": "undelivered",
            "ErrorCode": "30003",
            "AccountSid": SID,
        },
    )
    delivery.refresh_from_db()
    assert delivery.status == "failed"
    assert "part 1 of 3 of the text not delivered" in delivery.error and "30003" in delivery.error


def test_the_client_refuses_a_body_over_the_limit_rather_than_cut_it(
    number: ChannelAccount,
) -> None:
    from channels_in.config import load_config
    from channels_in.sms.client import SmsClient

    with responses.RequestsMock() as mock, pytest.raises(ValueError, match="1601 characters"):
        SmsClient(load_config(number)).send(to=CUSTOMER, body="x" * 1601)
    assert not mock.calls


def test_a_replayed_post_is_the_same_message_and_is_processed_once(number: ChannelAccount) -> None:
    """Twilio's signature covers the URL and every parameter but no timestamp or nonce: a
    replay can only repeat the identical request, which its MessageSid keeps to one row."""
    data = inbound_sms()
    assert post(INBOUND, data).status_code == 200
    assert post(INBOUND, data).status_code == 200
    tampered = post(
        INBOUND,
        {**data, "Body": "Refund me"},
        signature=twilio_signed(TOKEN, f"http://testserver{INBOUND}", data),
    )
    assert tampered.status_code == 403
    assert InboundMessage.objects.count() == 1
    process_received()
    assert Message.objects.count() == 1

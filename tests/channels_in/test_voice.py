"""Phone: the IVR menu, voicemail with transcription, missed calls, and logging a call."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
import responses
from django.test import Client

from channels_in.models import ChannelAccount, ChannelKind, InboundMessage
from tests.channels_in.chat_support import FAST_HASHERS
from tests.channels_in.provider_support import process_received, twilio_signed
from tests.conftest import client_for
from tests.factories import make_ticket
from tickets import services
from tickets.models import Identity, Message, Ticket, TicketEvent

pytestmark = pytest.mark.django_db

SID = "AC1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d"
TOKEN = "voice-auth-token"
CALL = "CA5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d"
CALLER = "+442071838750"
RECORDING = f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Recordings/RE0123456789abcdef"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture(autouse=True)
def fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = FAST_HASHERS


@pytest.fixture
def line(support: Any, billing: Any, monkeypatch: pytest.MonkeyPatch) -> ChannelAccount:
    monkeypatch.setenv("VOICE_TOKEN", TOKEN)
    return ChannelAccount.objects.create(
        kind=ChannelKind.PHONE,
        name="hotline",
        group=support,
        address="+14155559999",
        config={
            "account_sid": SID,
            "auth_token_env": "VOICE_TOKEN",
            "greeting": "Thanks for calling Acme.",
            "menu": [
                {"digit": "1", "label": "billing", "group": "Billing"},
                {"digit": "2", "label": "sales", "forward_to": "+14155550000"},
            ],
        },
    )


def call(**extra: str) -> dict[str, str]:
    """What Twilio posts about an incoming call."""
    return {
        "AccountSid": SID,
        "ApiVersion": "2010-04-01",
        "CallSid": CALL,
        "CallStatus": "in-progress",
        "Called": "+14155559999",
        "Caller": CALLER,
        "Direction": "inbound",
        "From": CALLER,
        "To": "+14155559999",
        "FromCountry": "GB",
        **extra,
    }


def post(path: str, data: dict[str, str], token: str = TOKEN) -> Any:
    signature = twilio_signed(token, f"http://testserver{path}", data)
    return Client().post(
        path, urlencode(data), content_type=FORM, HTTP_X_TWILIO_SIGNATURE=signature
    )


def test_an_incoming_call_hears_the_menu(line: ChannelAccount) -> None:
    response = post("/channels/voice/hotline/incoming/", call(CallStatus="ringing"))
    assert response["Content-Type"] == "text/xml"
    xml = response.content.decode()
    assert '<Gather numDigits="1" action="/channels/voice/hotline/menu/"' in xml
    assert "Thanks for calling Acme. For billing, press 1. For sales, press 2." in xml
    assert '<Redirect method="POST">/channels/voice/hotline/voicemail/</Redirect>' in xml
    [trail] = process_received()
    assert trail.status == "ignored" and "menu played" in trail.reason


def test_a_forged_call_is_refused_and_nothing_is_stored(line: ChannelAccount) -> None:
    assert post("/channels/voice/hotline/incoming/", call(), token="guess").status_code == 403
    assert (
        post(
            "/channels/voice/hotline/recording/",
            call(RecordingUrl=RECORDING, RecordingSid="RE1"),
            token="x",
        ).status_code
        == 403
    )
    assert InboundMessage.objects.count() == 0


def test_menu_keys_route_to_voicemail_a_forward_or_the_menu_again(line: ChannelAccount) -> None:
    billing = post("/channels/voice/hotline/menu/", call(Digits="1")).content.decode()
    assert "/channels/voice/hotline/voicemail/?option=1</Redirect>" in billing
    sales = post("/channels/voice/hotline/menu/", call(Digits="2")).content.decode()
    assert "Connecting you to sales." in sales and ">+14155550000</Dial>" in sales
    wrong = post("/channels/voice/hotline/menu/", call(Digits="7")).content.decode()
    assert "not one of the options" in wrong and "/channels/voice/hotline/incoming/" in wrong
    voicemail = post("/channels/voice/hotline/voicemail/?option=1", call()).content.decode()
    assert 'action="/channels/voice/hotline/recording/?option=1"' in voicemail
    assert 'transcribe="true"' in voicemail and 'maxLength="120"' in voicemail


@responses.activate
def test_a_voicemail_and_its_transcription_become_one_ticket_for_the_caller(
    line: ChannelAccount, billing: Any
) -> None:
    responses.get(RECORDING + ".mp3", body=b"ID3fake-mp3", content_type="audio/mpeg")
    post("/channels/voice/hotline/menu/", call(Digits="1"))
    post(
        "/channels/voice/hotline/recording/?option=1",
        call(
            RecordingUrl=RECORDING,
            RecordingSid="RE0123456789abcdef",
            RecordingDuration="23",
            Digits="hangup",
        ),
    )
    post(
        "/channels/voice/hotline/transcription/?option=1",
        call(
            TranscriptionSid="TR1",
            TranscriptionStatus="completed",
            RecordingSid="RE0123456789abcdef",
            TranscriptionText="Hi, I was charged twice for order 5521, please call me back.",
            RecordingUrl=RECORDING,
        ),
    )
    post("/channels/voice/hotline/status/", call(CallStatus="completed", CallDuration="41"))
    results = process_received()
    ticket = Ticket.objects.get()
    assert (ticket.channel, ticket.group_id) == ("phone", billing.pk)
    assert ticket.contact.identities.get().value == CALLER
    voicemail, transcript = ticket.messages.order_by("id")
    assert RECORDING in voicemail.text and "23 s" in voicemail.text
    assert voicemail.metadata["call"]["recording_url"] == RECORDING
    assert voicemail.attachments.get().filename == "voicemail-RE0123456789abcdef.mp3"
    assert transcript.text.startswith("Voicemail transcription: Hi, I was charged twice")
    status = [r for r in results if r.external_id.endswith(":status")][0]
    assert status.status == "ignored" and "voicemail" in status.reason


def test_a_missed_call_becomes_a_ticket_in_the_chosen_queue(
    line: ChannelAccount, billing: Any
) -> None:
    post("/channels/voice/hotline/incoming/", call(CallStatus="ringing"))
    post("/channels/voice/hotline/menu/", call(Digits="1"))
    post("/channels/voice/hotline/status/", call(CallStatus="completed", CallDuration="9"))
    process_received()
    ticket = Ticket.objects.get()
    assert ticket.group_id == billing.pk and ticket.subject == f"Missed call from {CALLER}"
    message = ticket.messages.get()
    assert "while choosing billing" in message.text
    assert message.metadata["call"]["kind"] == "missed"


def test_an_answered_forward_is_not_a_missed_call(line: ChannelAccount) -> None:
    post("/channels/voice/hotline/menu/", call(Digits="2"))
    post(
        "/channels/voice/hotline/dial/?option=2",
        call(DialCallStatus="completed", DialCallDuration="120"),
    )
    post("/channels/voice/hotline/status/", call(CallStatus="completed", CallDuration="130"))
    process_received()
    assert Ticket.objects.count() == 0


def test_an_agent_logs_a_call_on_a_ticket(agent: Any, support: Any) -> None:
    ticket = make_ticket(group=support)
    message = services.call_log(
        ticket=ticket,
        agent=agent,
        direction="outbound",
        duration_seconds=185,
        notes="Explained the refund.",
    )
    assert (message.kind, message.channel) == (Message.Kind.NOTE, "phone")
    assert message.metadata["call"] == {
        "direction": "outbound",
        "duration_seconds": 185,
        "notes": "Explained the refund.",
        "agent": agent.pk,
    }
    assert message.text.startswith("Call to the customer, 3 min 5 s.")
    event = TicketEvent.objects.filter(ticket=ticket, kind=TicketEvent.Kind.NOTE).get()
    assert event.new["call"]["duration_seconds"] == 185
    with pytest.raises(services.ServiceError):
        services.call_log(
            ticket=ticket, agent=agent, direction="sideways", duration_seconds=1, notes=""
        )


def test_the_call_log_form_is_for_agents_who_see_the_ticket(
    agent: Any, other_agent: Any, customer: Any, support: Any
) -> None:
    ticket = make_ticket(group=support)
    url = f"/channels/voice/calls/{ticket.number}/"
    assert client_for(agent).get(url).status_code == 200
    response = client_for(agent).post(
        url, {"direction": "inbound", "minutes": "4", "seconds": "30", "notes": "Wants a callback"}
    )
    assert response.status_code == 302 and response["Location"].endswith(
        f"/desk/tickets/{ticket.number}/"
    )
    assert ticket.messages.filter(kind="note").get().metadata["call"]["duration_seconds"] == 270
    assert (
        client_for(agent)
        .post(url, {"direction": "inbound", "minutes": "-1", "seconds": "0"})
        .status_code
        == 400
    )
    assert client_for(other_agent).get(url).status_code == 404
    assert (
        client_for(customer)
        .post(url, {"direction": "inbound", "minutes": "1", "seconds": "0"})
        .status_code
        == 404
    )
    assert ticket.messages.filter(kind="note").count() == 1
    assert Identity.objects.filter(kind="phone").count() == 0


def test_a_replayed_voice_post_is_stored_once(line: ChannelAccount, billing: Any) -> None:
    """Twilio signs no timestamp: a replay repeats the identical post, named by call and event."""
    for _ in range(2):
        post("/channels/voice/hotline/menu/", call(Digits="1"))
        post("/channels/voice/hotline/status/", call(CallStatus="completed", CallDuration="9"))
    assert InboundMessage.objects.count() == 2
    process_received()
    assert Ticket.objects.get().messages.count() == 1

"""Provider webhooks for inbound mail: a valid request is stored raw and threaded; a forged one
is answered 403 and leaves nothing behind. Payloads follow the providers' documented shapes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import responses
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from django.test import Client, override_settings

from channels_in.email.webhooks import sns_string_to_sign
from channels_in.models import ChannelAccount, InboundMessage
from channels_in.services import inbound_process
from tests.channels_in.mailtools import email_account, make_mail, mount_email_urls
from tickets.models import Attachment, Message, Ticket

pytestmark = pytest.mark.django_db
LOCMEM_CACHE = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Latin-1 bytes in the body: proves the raw message is stored byte for byte, not re-decoded.
RAW = make_mail(subject="Webhook mail", message_id="<wh1@customer.test>").replace(
    b"after two weeks.", b"after two weeks. Caf\xe9."
)


@pytest.fixture(autouse=True)
def urls() -> Iterator[None]:
    with mount_email_urls(), override_settings(CACHES=LOCMEM_CACHE):
        yield


def account(provider: str, monkeypatch: pytest.MonkeyPatch, **webhook: Any) -> ChannelAccount:
    monkeypatch.setenv("HOOK_KEY", "key-3ax6xnjp29jd6fds4gc373sgvjxteol0")
    monkeypatch.setenv("HOOK_AUTH", "inbound:s3cret-p4ss")
    config: dict[str, Any] = {"provider": provider, **webhook}
    if provider == "mailgun":
        config["signing_key_env"] = "HOOK_KEY"
    if provider in ("postmark", "sendgrid"):
        config["basic_auth_env"] = "HOOK_AUTH"
    return email_account(config={"webhook": config})


def multipart(fields: dict[str, bytes]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        b"".join(
            b"--"
            + boundary.encode()
            + b"\r\n"
            + f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value
            + b"\r\n"
            for name, value in fields.items()
        )
        + b"--"
        + boundary.encode()
        + b"--\r\n"
    )
    return body, f"multipart/form-data; boundary={boundary}"


def basic(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode()


# --- Mailgun -------------------------------------------------------------------------------


def mailgun_fields(key: str, *, age: int = 0, raw: bytes = RAW) -> dict[str, bytes]:
    timestamp = str(int(time.time()) - age)
    token = uuid.uuid4().hex * 2
    signature = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return {
        "recipient": b"support@desk.test",
        "sender": b"pat@customer.test",
        "timestamp": timestamp.encode(),
        "token": token.encode(),
        "signature": signature.encode(),
        "body-mime": raw,
    }


def test_mailgun_stores_the_raw_mime_of_a_signed_request(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = account("mailgun", monkeypatch)
    body, content_type = multipart(mailgun_fields("key-3ax6xnjp29jd6fds4gc373sgvjxteol0"))
    response = client.post(
        "/channels/email/inbound/mailgun/support/mime", body, content_type=content_type
    )
    assert response.status_code == 200, response.content
    inbound = InboundMessage.objects.get(account=box)
    assert bytes(inbound.raw) == RAW and inbound.external_id == "<wh1@customer.test>"
    assert inbound_process(inbound_id=inbound.pk).status == InboundMessage.Status.PROCESSED
    assert "Café" in Message.objects.get().text


@pytest.mark.parametrize("forgery", ["wrong key", "replayed", "unsigned"])
def test_mailgun_refuses_a_forged_request_and_stores_nothing(
    client: Client, monkeypatch: pytest.MonkeyPatch, forgery: str
) -> None:
    account("mailgun", monkeypatch)
    if forgery == "wrong key":
        fields = mailgun_fields("key-guessed-by-an-attacker")
    elif forgery == "replayed":
        fields = mailgun_fields("key-3ax6xnjp29jd6fds4gc373sgvjxteol0", age=3600)
    else:
        fields = {"body-mime": RAW}
    body, content_type = multipart(fields)
    response = client.post(
        "/channels/email/inbound/mailgun/support/mime", body, content_type=content_type
    )
    assert response.status_code == 403
    assert InboundMessage.objects.count() == 0


def test_a_webhook_for_an_unknown_account_or_provider_is_404(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    account("postmark", monkeypatch)
    body, content_type = multipart(mailgun_fields("key-3ax6xnjp29jd6fds4gc373sgvjxteol0"))
    for url in (
        "/channels/email/inbound/mailgun/support/mime",
        "/channels/email/inbound/mailgun/nobody/mime",
    ):
        assert client.post(url, body, content_type=content_type).status_code == 404
    assert InboundMessage.objects.count() == 0


# --- Postmark ------------------------------------------------------------------------------


def postmark_payload() -> dict[str, Any]:
    """Shaped like Postmark's inbound webhook documentation."""
    return {
        "FromName": "Pat Customer",
        "MessageStream": "inbound",
        "From": "pat@customer.test",
        "FromFull": {"Email": "pat@customer.test", "Name": "Pat Customer", "MailboxHash": ""},
        "To": "support@desk.test",
        "ToFull": [{"Email": "support@desk.test", "Name": "", "MailboxHash": ""}],
        "Cc": "Quinn <quinn@customer.test>",
        "CcFull": [{"Email": "quinn@customer.test", "Name": "Quinn", "MailboxHash": ""}],
        "OriginalRecipient": "support@desk.test",
        "Subject": "Invoice copy please",
        "MessageID": "22c74902-a0c1-4511-804f-341342852c90",
        "ReplyTo": "",
        "MailboxHash": "",
        "Date": "Mon, 23 Nov 2026 10:00:00 +0000",
        "TextBody": "Could you send me a copy of invoice 77?",
        "HtmlBody": "<p>Could you send me a copy of <b>invoice 77</b>?</p><script>x()</script>",
        "StrippedTextReply": "",
        "Tag": "",
        "Headers": [
            {"Name": "X-Spam-Status", "Value": "No"},
            {"Name": "Message-ID", "Value": "<pm1@customer.test>"},
        ],
        "Attachments": [
            {
                "Name": "receipt.txt",
                "Content": base64.b64encode(b"paid 77").decode(),
                "ContentType": "text/plain",
                "ContentLength": 7,
            }
        ],
    }


def test_postmark_stores_the_json_and_threads_it_like_any_mail(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = account("postmark", monkeypatch)
    response = client.post(
        "/channels/email/inbound/postmark/support/",
        postmark_payload(),
        content_type="application/json",
        HTTP_AUTHORIZATION=basic("inbound:s3cret-p4ss"),
    )
    assert response.status_code == 200, response.content
    inbound = InboundMessage.objects.get(account=box)
    assert inbound.content_type.startswith("application/json")
    assert inbound.external_id == "<pm1@customer.test>"
    processed = inbound_process(inbound_id=inbound.pk)
    assert processed.status == InboundMessage.Status.PROCESSED, processed.reason
    message = Message.objects.get()
    assert message.external_id == "<pm1@customer.test>"
    assert message.sender == "pat@customer.test" and "invoice 77" in message.text
    assert "<script" not in message.html and "<b>invoice 77</b>" in message.html
    assert Attachment.objects.get().filename == "receipt.txt"
    ticket = Ticket.objects.get()
    assert [p.contact.identities.get().value for p in ticket.participants.all()] == [
        "quinn@customer.test"
    ]


@pytest.mark.parametrize("auth", [None, "inbound:guessed", "not-even-basic"])
def test_postmark_refuses_requests_without_the_right_credentials(
    client: Client, monkeypatch: pytest.MonkeyPatch, auth: str | None
) -> None:
    account("postmark", monkeypatch)
    headers = {} if auth is None else {"HTTP_AUTHORIZATION": basic(auth) if ":" in auth else auth}
    response = client.post(
        "/channels/email/inbound/postmark/support/",
        postmark_payload(),
        content_type="application/json",
        **headers,
    )
    assert response.status_code == 403
    assert InboundMessage.objects.count() == 0


# --- SendGrid ------------------------------------------------------------------------------


def sendgrid_body(raw: bytes = RAW) -> tuple[bytes, str]:
    return multipart(
        {
            "headers": b"From: pat@customer.test",
            "dkim": b"{@customer.test : pass}",
            "to": b"support@desk.test",
            "from": b"Pat Customer <pat@customer.test>",
            "subject": b"Webhook mail",
            "envelope": json.dumps(
                {"to": ["support@desk.test"], "from": "pat@customer.test"}
            ).encode(),
            "charsets": b'{"to":"UTF-8","from":"UTF-8","subject":"UTF-8"}',
            "SPF": b"pass",
            "email": raw,
        }
    )


def test_sendgrid_stores_the_raw_message(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    box = account("sendgrid", monkeypatch)
    body, content_type = sendgrid_body()
    response = client.post(
        "/channels/email/inbound/sendgrid/support/",
        body,
        content_type=content_type,
        HTTP_AUTHORIZATION=basic("inbound:s3cret-p4ss"),
    )
    assert response.status_code == 200, response.content
    assert bytes(InboundMessage.objects.get(account=box).raw) == RAW


def test_sendgrid_refuses_a_request_with_wrong_credentials(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    account("sendgrid", monkeypatch)
    body, content_type = sendgrid_body()
    for headers in ({}, {"HTTP_AUTHORIZATION": basic("inbound:wrong")}):
        response = client.post(
            "/channels/email/inbound/sendgrid/support/", body, content_type=content_type, **headers
        )
        assert response.status_code == 403
    assert InboundMessage.objects.count() == 0


# --- Amazon SES through SNS ----------------------------------------------------------------

TOPIC = "arn:aws:sns:us-east-1:123456789012:ses-inbound"


def signing_pair() -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture
def sns(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    key, pem = signing_pair()
    cert_url = (
        f"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-{uuid.uuid4().hex}.pem"
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(cert_url, body=pem)
        yield {
            "key": key,
            "cert_url": cert_url,
            "mock": mock,
            "account": account("ses", monkeypatch, sns_topic_arns=[TOPIC]),
        }


def sns_message(
    sns: dict[str, Any],
    *,
    kind: str = "Notification",
    message: str = "",
    version: str = "1",
    key: rsa.RSAPrivateKey | None = None,
    topic: str = TOPIC,
    **extra: Any,
) -> dict[str, Any]:
    body = {
        "Type": kind,
        "MessageId": str(uuid.uuid4()),
        "TopicArn": topic,
        "Message": message,
        "Timestamp": "2026-11-23T10:00:00.000Z",
        "SignatureVersion": version,
        "SigningCertURL": sns["cert_url"],
        **extra,
    }
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()  # noqa: S303 (SNS v1)
    signature = (key or sns["key"]).sign(sns_string_to_sign(body), padding.PKCS1v15(), algorithm)
    body["Signature"] = base64.b64encode(signature).decode()
    return body


def ses_received(raw: bytes = RAW, *, encoding: str = "BASE64") -> str:
    content = base64.b64encode(raw).decode() if encoding == "BASE64" else raw.decode("latin-1")
    return json.dumps(
        {
            "notificationType": "Received",
            "mail": {
                "timestamp": "2026-11-23T10:00:00.000Z",
                "source": "pat@customer.test",
                "messageId": "o3vrnil0e2ic28trm7dfhrc2v0clambda4nbp0g1",
                "destination": ["support@desk.test"],
                "commonHeaders": {"subject": "Webhook mail"},
            },
            "receipt": {
                "recipients": ["support@desk.test"],
                "spamVerdict": {"status": "PASS"},
                "action": {"type": "SNS", "topicArn": TOPIC, "encoding": encoding},
            },
            "content": content,
        }
    )


def post_sns(client: Client, body: dict[str, Any]) -> Any:
    return client.post(
        "/channels/email/inbound/ses/support/",
        json.dumps(body),
        content_type="text/plain; charset=UTF-8",
        HTTP_X_AMZ_SNS_MESSAGE_TYPE=body["Type"],
    )


@pytest.mark.parametrize("version", ["1", "2"])
def test_ses_stores_the_mail_of_a_validly_signed_notification(
    client: Client, sns: dict[str, Any], version: str
) -> None:
    response = post_sns(client, sns_message(sns, message=ses_received(), version=version))
    assert response.status_code == 200, response.content
    inbound = InboundMessage.objects.get(account=sns["account"])
    assert bytes(inbound.raw) == RAW
    assert inbound_process(inbound_id=inbound.pk).status == InboundMessage.Status.PROCESSED


@pytest.mark.parametrize("forgery", ["other key", "tampered", "foreign topic", "foreign cert host"])
def test_ses_refuses_a_forged_notification_and_stores_nothing(
    client: Client, sns: dict[str, Any], forgery: str
) -> None:
    if forgery == "other key":
        body = sns_message(sns, message=ses_received(), key=signing_pair()[0])
    elif forgery == "tampered":
        body = sns_message(sns, message=ses_received())
        body["Message"] = ses_received(make_mail(sender="mallory@evil.test"))
    elif forgery == "foreign topic":
        body = sns_message(
            sns, message=ses_received(), topic="arn:aws:sns:us-east-1:666666666666:attacker"
        )
    else:
        sns["cert_url"] = "https://sns.us-east-1.amazonaws.com.evil.test/cert.pem"
        body = sns_message(sns, message=ses_received())
    assert post_sns(client, body).status_code == 403
    assert InboundMessage.objects.count() == 0
    if forgery == "foreign cert host":
        assert len(sns["mock"].calls) == 0  # never fetched a certificate from there


def test_ses_confirms_its_subscription(client: Client, sns: dict[str, Any]) -> None:
    subscribe = "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=x&Token=t"
    sns["mock"].get(subscribe, body="<ConfirmSubscriptionResponse/>")
    body = sns_message(
        sns,
        kind="SubscriptionConfirmation",
        message="You have chosen to subscribe",
        SubscribeURL=subscribe,
        Token="t0k3n",
    )
    assert post_sns(client, body).status_code == 200
    assert any(call.request.url == subscribe for call in sns["mock"].calls)


def test_ses_without_content_is_recorded_as_failed_with_the_reason(
    client: Client, sns: dict[str, Any]
) -> None:
    notification = json.loads(ses_received())
    del notification["content"]
    notification["receipt"]["action"] = {"type": "S3", "bucketName": "mail", "objectKey": "k"}
    assert post_sns(client, sns_message(sns, message=json.dumps(notification))).status_code == 200
    inbound = InboundMessage.objects.get()
    assert inbound.status == InboundMessage.Status.FAILED and "SNS action" in inbound.reason


# --- replays: a signed proof is good for one request ----------------------------------------

MAILGUN_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"


def post_mailgun(client: Client, fields: dict[str, bytes]) -> Any:
    body, content_type = multipart(fields)
    return client.post(
        "/channels/email/inbound/mailgun/support/mime", body, content_type=content_type
    )


def test_mailgun_refuses_its_token_a_second_time_even_with_another_body(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    account("mailgun", monkeypatch)
    fields = mailgun_fields(MAILGUN_KEY)
    assert post_mailgun(client, fields).status_code == 200
    other = make_mail(subject="Send the refund to me", message_id="<evil@attacker.test>")
    replay = post_mailgun(client, {**fields, "body-mime": other})
    assert replay.status_code == 406 and b"replayed" in replay.content
    again = post_mailgun(client, fields)  # the very same request: refused too
    assert again.status_code == 406
    assert list(InboundMessage.objects.values_list("external_id", flat=True)) == [
        "<wh1@customer.test>"
    ]
    assert post_mailgun(client, mailgun_fields(MAILGUN_KEY)).status_code == 200  # a fresh token


def test_a_mailgun_token_used_on_one_account_is_refused_on_another_with_the_same_key(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    account("mailgun", monkeypatch)
    email_account(
        name="sales",
        address="sales@desk.test",
        config={"webhook": {"provider": "mailgun", "signing_key_env": "HOOK_KEY"}},
    )
    fields = mailgun_fields(MAILGUN_KEY)
    assert post_mailgun(client, fields).status_code == 200
    body, content_type = multipart(fields)
    other = client.post(
        "/channels/email/inbound/mailgun/sales/mime", body, content_type=content_type
    )
    assert other.status_code == 406
    assert InboundMessage.objects.count() == 1


def test_mailgun_gives_a_token_back_when_nothing_was_stored(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The provider's retry of a request we answered with an error must still get through."""
    account("mailgun", monkeypatch)
    fields = mailgun_fields(MAILGUN_KEY)
    without_mime = {k: v for k, v in fields.items() if k != "body-mime"}
    assert post_mailgun(client, without_mime).status_code == 400
    assert post_mailgun(client, fields).status_code == 200
    assert InboundMessage.objects.count() == 1


def test_ses_refuses_a_signed_message_id_a_second_time(client: Client, sns: dict[str, Any]) -> None:
    body = sns_message(sns, message=ses_received())
    assert post_sns(client, body).status_code == 200
    replay = post_sns(client, body)
    assert replay.status_code == 409 and b"replayed" in replay.content
    # the unsigned fields changed, the signed ones kept: still the same message
    assert post_sns(client, {**body, "UnsubscribeURL": "https://evil.test/u"}).status_code == 409
    assert InboundMessage.objects.count() == 1
    other = sns_message(sns, message=ses_received(make_mail(message_id="<wh2@customer.test>")))
    assert post_sns(client, other).status_code == 200
    assert InboundMessage.objects.count() == 2


def test_ses_replay_of_a_subscription_confirmation_is_refused(
    client: Client, sns: dict[str, Any]
) -> None:
    subscribe = "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=x&Token=t"
    sns["mock"].get(subscribe, body="<ConfirmSubscriptionResponse/>")
    body = sns_message(
        sns, kind="SubscriptionConfirmation", message="subscribe", SubscribeURL=subscribe, Token="t"
    )
    assert post_sns(client, body).status_code == 200
    assert post_sns(client, body).status_code == 409
    assert sum(call.request.url == subscribe for call in sns["mock"].calls) == 1


def test_postmark_and_sendgrid_have_no_token_and_a_replay_stores_nothing_new(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Basic auth proves the sender but carries no timestamp or token: a replay is the same
    mail, and the mail's own Message-ID keeps it to one row (and one ticket message)."""
    postmark = account("postmark", monkeypatch)
    for _ in range(2):
        response = client.post(
            "/channels/email/inbound/postmark/support/",
            postmark_payload(),
            content_type="application/json",
            HTTP_AUTHORIZATION=basic("inbound:s3cret-p4ss"),
        )
        assert response.status_code == 200
    assert InboundMessage.objects.filter(account=postmark).count() == 1
    InboundMessage.objects.all().delete()
    ChannelAccount.objects.all().delete()
    sendgrid = account("sendgrid", monkeypatch)
    body, content_type = sendgrid_body()
    for _ in range(2):
        response = client.post(
            "/channels/email/inbound/sendgrid/support/",
            body,
            content_type=content_type,
            HTTP_AUTHORIZATION=basic("inbound:s3cret-p4ss"),
        )
        assert response.status_code == 200
    assert InboundMessage.objects.filter(account=sendgrid).count() == 1

"""Inbound mail from providers: Mailgun, Postmark, SendGrid and Amazon SES (through SNS).

One URL per account and provider (`/channels/email/inbound/<provider>/<account>/`), so each
account carries its own secrets (named in its `webhook` config). Every request proves where it
comes from before anything is stored; a request that cannot is answered 403 and leaves no row:

- Mailgun: HMAC-SHA256 of timestamp + token with the account's webhook signing key, and a
  timestamp within 15 minutes; each token is accepted once (a replay is answered 406). The
  route must forward to `.../mime` so the raw MIME arrives.
- Postmark and SendGrid: HTTP basic auth (credentials in the webhook URL you give them).
  SendGrid's Inbound Parse must have "POST the raw, full MIME message" on.
- Amazon SES: an SNS HTTP subscription; the SNS message signature is verified against
  Amazon's signing certificate (fetched from the https `sns.<region>.amazonaws.com` URL named
  in the message, cached), and the topic must be in the account's `sns_topic_arns`; each signed
  MessageId is accepted once (a replay is answered 409). If the
  `cryptography` package is missing, only basic auth (`basic_auth_env`) can authenticate it.
  Use the SES receipt rule's SNS action (the raw mail travels in the notification).

The raw MIME is stored as it arrived (Postmark's JSON as JSON, rebuilt into MIME when read),
then the shared pipeline takes over; the provider gets 200 only after the commit.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
import time
from email.message import Message as MimeMessage
from email.parser import BytesParser
from email.policy import compat32
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ..models import ChannelAccount, ChannelKind
from ..webhooks import Replayed, replay_claim, replay_guarded
from .config import ConfigError, EmailAccountConfig, WebhookConfig, load_email_config
from .store import store_email, store_failed

log = logging.getLogger(__name__)

MAILGUN_MAX_AGE = 15 * 60
SNS_REPLAY_WINDOW = 24 * 3600
SNS_CERT_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
SNS_NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
SNS_SUBSCRIPTION_KEYS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)


class Forbidden(Exception):
    """The request did not prove it comes from the provider."""


def _account(name: str, provider: str) -> tuple[ChannelAccount, WebhookConfig]:
    account = ChannelAccount.objects.filter(kind=ChannelKind.EMAIL, name=name, active=True).first()
    if account is None:
        raise Http404("No such account.")
    try:
        config: EmailAccountConfig = load_email_config(account)
    except ConfigError as exc:
        log.error("inbound %s webhook for %s: %s", provider, name, exc)
        raise Http404("This account takes no webhooks.") from exc
    if config.webhook is None or config.webhook.provider != provider:
        raise Http404("This account takes no webhooks from this provider.")
    return account, config.webhook


def _webhook(provider: str, handler: Any) -> Any:
    """The shared shell: account lookup, 403 on a failed proof, 503 when our own secret is
    missing (the provider retries later), 200 once stored."""

    @csrf_exempt
    @require_POST
    def view(request: HttpRequest, account: str) -> HttpResponse:
        channel_account, webhook = _account(account, provider)
        try:
            return handler(request, channel_account, webhook)
        except Forbidden as exc:
            log.warning("refused %s webhook for %s: %s", provider, account, exc)
            return HttpResponseForbidden(f"forbidden: {exc}")
        except ConfigError as exc:
            log.error("%s webhook for %s cannot be verified: %s", provider, account, exc)
            return HttpResponse("webhook secret not configured", status=503)
        except Replayed as exc:
            log.warning("refused %s webhook for %s: %s", provider, account, exc)
            # 406 is what Mailgun reads as "rejected, do not retry"; SNS stops on any 4xx
            return HttpResponse(f"replayed: {exc}", status=406 if provider == "mailgun" else 409)

    view.__name__ = f"{provider}_inbound"
    return view


# --- authentication --------------------------------------------------------------------------


def _check_basic_auth(request: HttpRequest, webhook: WebhookConfig, *, required: bool) -> bool:
    expected = webhook.basic_auth()
    if not expected:
        if required:
            raise Forbidden("basic auth is not configured for this account")
        return False
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        raise Forbidden("missing basic auth")
    try:
        given = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise Forbidden("malformed basic auth") from exc
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Forbidden("wrong basic auth credentials")
    return True


def mailgun_signature_ok(*, key: str, timestamp: str, token: str, signature: str) -> bool:
    digest = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(digest, signature.strip().lower())


# --- reading provider bodies as bytes ----------------------------------------------------------


def form_field_bytes(request: HttpRequest, name: str) -> bytes | None:
    """A form field's exact bytes. Django's form parsing decodes text fields as UTF-8 and would
    mangle a raw message in another charset, so the body is parsed here."""
    content_type = request.META.get("CONTENT_TYPE", "")
    body = request.body
    if content_type.startswith("application/x-www-form-urlencoded"):
        values = parse_qs(body, keep_blank_values=True).get(name.encode())
        return values[0] if values else None
    if not content_type.startswith("multipart/form-data"):
        return None
    envelope = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    form = BytesParser(policy=compat32).parsebytes(envelope + body)
    for part in form.get_payload() if form.is_multipart() else []:
        if (
            isinstance(part, MimeMessage)
            and part.get_param("name", header="content-disposition") == name
        ):
            payload = part.get_payload(decode=True)
            return payload if isinstance(payload, bytes) else None
    return None


def form_field_text(request: HttpRequest, name: str) -> str:
    value = form_field_bytes(request, name)
    return value.decode("utf-8", "replace") if value is not None else ""


def _stored(inbound_id: int) -> HttpResponse:
    return HttpResponse(f"stored as inbound #{inbound_id}", content_type="text/plain")


# --- providers -------------------------------------------------------------------------------


def _mailgun(request: HttpRequest, account: ChannelAccount, webhook: WebhookConfig) -> HttpResponse:
    timestamp = form_field_text(request, "timestamp")
    token = form_field_text(request, "token")
    signature = form_field_text(request, "signature")
    if not (timestamp and token and signature):
        raise Forbidden("missing Mailgun signature fields")
    if not mailgun_signature_ok(
        key=webhook.signing_key(), timestamp=timestamp, token=token, signature=signature
    ):
        raise Forbidden("Mailgun signature does not match")
    try:
        age = abs(time.time() - float(timestamp))
    except ValueError as exc:
        raise Forbidden("bad Mailgun timestamp") from exc
    if age > MAILGUN_MAX_AGE:
        raise Forbidden("Mailgun timestamp too old (replayed?)")
    # A signed token is good for one request: remembered as long as its timestamp is accepted
    # (MAILGUN_MAX_AGE either side of now, so twice that from the first sight).
    claim = replay_claim(provider="mailgun", proof=token, window=2 * MAILGUN_MAX_AGE)
    return replay_guarded(claim, lambda: _mailgun_store(request, account))


def _mailgun_store(request: HttpRequest, account: ChannelAccount) -> HttpResponse:
    raw = form_field_bytes(request, "body-mime")
    if not raw:
        return HttpResponse(
            "no body-mime: forward the Mailgun route to the URL ending in /mime", status=400
        )
    return _stored(store_email(account=account, raw=raw).inbound.pk)


def _postmark(
    request: HttpRequest, account: ChannelAccount, webhook: WebhookConfig
) -> HttpResponse:
    _check_basic_auth(request, webhook, required=True)
    try:
        payload = json.loads(request.body)
    except ValueError:
        return HttpResponse("not JSON", status=400)
    if not isinstance(payload, dict):
        return HttpResponse("not a Postmark inbound payload", status=400)
    message_id = ""
    for header in payload.get("Headers") or []:
        if isinstance(header, dict) and str(header.get("Name", "")).lower() == "message-id":
            message_id = " ".join(str(header.get("Value", "")).split())
    if not message_id and payload.get("MessageID"):
        message_id = f"<{payload['MessageID']}@inbound.postmarkapp.com>"
    stored = store_email(
        account=account,
        raw=request.body,
        external_id=message_id[:500],
        content_type="application/json; provider=postmark",
    )
    return _stored(stored.inbound.pk)


def _sendgrid(
    request: HttpRequest, account: ChannelAccount, webhook: WebhookConfig
) -> HttpResponse:
    _check_basic_auth(request, webhook, required=True)
    raw = form_field_bytes(request, "email")
    if not raw:
        return HttpResponse(
            "no raw message: turn on 'POST the raw, full MIME message' in Inbound Parse",
            status=400,
        )
    return _stored(store_email(account=account, raw=raw).inbound.pk)


def sns_string_to_sign(message: dict[str, Any]) -> bytes:
    keys = SNS_NOTIFICATION_KEYS if message.get("Type") == "Notification" else SNS_SUBSCRIPTION_KEYS
    return "".join(f"{k}\n{message[k]}\n" for k in keys if k in message).encode("utf-8")


def _sns_url_ok(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "https" and bool(SNS_CERT_HOST.match(parts.hostname or ""))


def _sns_certificate(url: str) -> bytes:
    key = "email:sns-cert:" + hashlib.sha256(url.encode()).hexdigest()
    pem = cache.get(key)
    if pem is None:
        try:
            response = requests.get(url, timeout=10)
        except requests.RequestException as exc:
            raise Forbidden(f"cannot fetch the SNS signing certificate: {exc}") from exc
        if response.status_code != 200:
            raise Forbidden(f"SNS signing certificate: HTTP {response.status_code}")
        pem = response.content
        cache.set(key, pem, timeout=24 * 3600)
    return bytes(pem)


def verify_sns(message: dict[str, Any]) -> None:
    """Raise Forbidden unless the SNS message carries a valid Amazon signature."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    url = str(message.get("SigningCertURL") or message.get("SigningCertUrl") or "")
    if not _sns_url_ok(url) or not url.endswith(".pem"):
        raise Forbidden(f"untrusted SNS certificate URL {url!r}")
    version = str(message.get("SignatureVersion", ""))
    algorithm = {"1": hashes.SHA1(), "2": hashes.SHA256()}.get(version)  # noqa: S303 (SNS v1)
    if algorithm is None:
        raise Forbidden(f"unknown SNS SignatureVersion {version!r}")
    try:
        signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
        certificate = x509.load_pem_x509_certificate(_sns_certificate(url))
    except (binascii.Error, ValueError) as exc:
        raise Forbidden(f"unreadable SNS signature or certificate: {exc}") from exc
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise Forbidden("SNS certificate does not hold an RSA key")
    try:
        public_key.verify(signature, sns_string_to_sign(message), padding.PKCS1v15(), algorithm)
    except InvalidSignature as exc:
        raise Forbidden("SNS signature does not match") from exc


def _ses(request: HttpRequest, account: ChannelAccount, webhook: WebhookConfig) -> HttpResponse:
    try:
        message = json.loads(request.body)
    except ValueError:
        return HttpResponse("not JSON", status=400)
    if not isinstance(message, dict) or "Type" not in message:
        return HttpResponse("not an SNS message", status=400)
    if message.get("TopicArn") not in webhook.sns_topic_arns:
        raise Forbidden(f"SNS topic {message.get('TopicArn')!r} is not allowed for this account")
    authed = _check_basic_auth(request, webhook, required=False)
    try:
        verify_sns(message)
    except ImportError:
        if not authed:
            raise Forbidden(
                "cannot verify SNS signatures (no cryptography): use basic auth"
            ) from None
    # SNS signs its MessageId with the message: each is delivered (and accepted) once. Its
    # Timestamp is not checked against a window (SNS retries a failed delivery for as long as
    # the topic's delivery policy says), so the id is remembered for a day; past that, the
    # stored mail's own id still keeps a late replay from being threaded twice.
    claim = replay_claim(
        provider="ses",
        proof=str(message.get("MessageId") or message.get("Signature") or ""),
        window=SNS_REPLAY_WINDOW,
    )
    return replay_guarded(claim, lambda: _ses_handle(request, account, message))


def _ses_handle(
    request: HttpRequest, account: ChannelAccount, message: dict[str, Any]
) -> HttpResponse:
    kind = message["Type"]
    if kind == "SubscriptionConfirmation":
        url = str(message.get("SubscribeURL", ""))
        if not _sns_url_ok(url):
            raise Forbidden(f"untrusted SubscribeURL {url!r}")
        response = requests.get(url, timeout=10)
        return HttpResponse(f"subscription confirmed: HTTP {response.status_code}")
    if kind != "Notification":
        return HttpResponse(f"ignored SNS {kind}")
    try:
        notification = json.loads(message.get("Message") or "{}")
    except ValueError:
        return HttpResponse("SNS message is not an SES notification", status=400)
    if notification.get("notificationType") != "Received":
        return HttpResponse(f"ignored SES {notification.get('notificationType')!r} notification")
    content = notification.get("content")
    ses_id = str((notification.get("mail") or {}).get("messageId") or message.get("MessageId"))
    if not isinstance(content, str):
        # An S3 receipt action leaves the mail in a bucket; keep what we know, visibly failed.
        inbound = store_failed(
            account=account,
            external_id=f"ses:{ses_id}",
            raw=request.body,
            content_type="application/json; provider=ses",
            reason="SES sent no message content: use the receipt rule's SNS action "
            "(S3 actions are not supported)",
        )
        return _stored(inbound.pk)
    encoding = str(((notification.get("receipt") or {}).get("action") or {}).get("encoding", ""))
    if encoding.upper() == "BASE64":
        raw = base64.b64decode(content)
    else:
        raw = content.encode("utf-8", "surrogateescape")
    return _stored(store_email(account=account, raw=raw).inbound.pk)


mailgun = _webhook("mailgun", _mailgun)
postmark = _webhook("postmark", _postmark)
sendgrid = _webhook("sendgrid", _sendgrid)
ses = _webhook("ses", _ses)

"""What every provider webhook and API client shares: signature checks, storing a provider's
batch of events one row per event, applying delivery receipts, and the HTTP client.

A webhook view verifies the request, then stores before doing anything else:

* the body as it arrived (an envelope row, never processed by itself: its reason lists how it
  was split), then one `InboundMessage` per event in it, so each message is threaded, retried
  and deduplicated (by the provider's id) on its own;
* message events are queued for the ingest pipeline (`process_inbound`);
* delivery receipts are applied here (`receipt_apply`), in their own transaction, because a
  receipt changes our outbound rows and makes no ticket message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests
from django.core.cache import cache
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.utils import timezone

from .config import ConfigError, load_config
from .errors import DeliveryError, Rejected
from .models import ChannelAccount, InboundMessage, OutboundDelivery
from .services import delivery_update_status, inbound_store

log = logging.getLogger(__name__)

HTTP_TIMEOUT = (5, 20)  # connect, read: a slow provider must not hold a worker for minutes


# --- signatures -----------------------------------------------------------------------------


def hub_signature_valid(*, secret: str, body: bytes, header: str) -> bool:
    """Meta's `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`."""
    if not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header[len("sha256=") :].strip().lower())


def twilio_signature(*, auth_token: str, url: str, params: Mapping[str, Sequence[str]]) -> str:
    """Twilio's request signature: base64 HMAC-SHA1 over the full URL followed by every POST
    parameter name and value, names sorted (a repeated name contributes each value, sorted)."""
    data = url + "".join(name + value for name in sorted(params) for value in sorted(params[name]))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def twilio_signature_valid(
    *, auth_token: str, url: str, params: Mapping[str, Sequence[str]], header: str
) -> bool:
    expected = twilio_signature(auth_token=auth_token, url=url, params=params)
    return bool(header) and hmac.compare_digest(expected, header.strip())


def hub_challenge(request: HttpRequest, verify_token: str) -> str | None:
    """Meta's subscription handshake: the challenge to echo back when the GET carries
    `hub.mode=subscribe` and our verify token; None otherwise."""
    if request.GET.get("hub.mode") != "subscribe":
        return None
    if not secret_equal(verify_token, request.GET.get("hub.verify_token", "")):
        return None
    return request.GET.get("hub.challenge", "")


def secret_equal(expected: str, given: str) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), given.encode())


def public_url(request: HttpRequest, base: str) -> str:
    """The URL the provider called, as it signed it: `base` (scheme://host of the public
    entry point) replaces what a proxy in front of us may have rewritten."""
    if base:
        return base.rstrip("/") + request.get_full_path()
    return request.build_absolute_uri()


def delivery_config(delivery: OutboundDelivery, provider: str) -> Any:
    """The typed config of the account a delivery leaves by; a permanent DeliveryError when
    there is none or it is unusable (retrying cannot fix a configuration)."""
    if delivery.account is None:
        raise DeliveryError(f"no {provider} account to send from", permanent=True)
    try:
        return load_config(delivery.account)
    except ConfigError as exc:
        raise DeliveryError(f"{provider}: {exc}", permanent=True) from exc


def account_or_404(name: str, kind: str) -> ChannelAccount:
    account = ChannelAccount.objects.filter(name=name, kind=kind, active=True).first()
    if account is None:
        raise Http404("No such channel account.")
    return account


# --- replays ---------------------------------------------------------------------------------
#
# A provider that signs a timestamp or a one-time token (Mailgun's token, an SNS MessageId)
# makes a captured request valid for a while: within that window, the same proof must be
# accepted once. The proof is claimed in Redis with SET NX EX (the cache's `add`) before
# anything is stored, and given back if the request then stores nothing, so the provider's own
# retry of a failed delivery still gets through.


class Replayed(Exception):
    """This signed proof was already used within its validity window."""


def replay_claim(*, provider: str, proof: str, window: int) -> str:
    """Claim `proof` (a token or message id the provider signed) for `window` seconds.
    Returns the claim's key, to release if nothing gets stored; Replayed if already seen.
    The claim is the provider's, not one account's: accounts often share one signing key,
    and a token captured on one account's URL must not be good on another's."""
    digest = hashlib.sha256(proof.encode("utf-8", "surrogateescape")).hexdigest()
    key = f"webhook-seen:{provider}:{digest}"
    if not cache.add(key, "1", timeout=window):
        raise Replayed(f"{provider} signature already used (replayed request)")
    return key


def replay_release(key: str) -> None:
    cache.delete(key)


def replay_guarded(key: str, handle: Callable[[], HttpResponse]) -> HttpResponse:
    """Run `handle` under a claim: the claim stays only when it answered 2xx (stored)."""
    try:
        response = handle()
    except BaseException:
        replay_release(key)
        raise
    if not 200 <= response.status_code < 300:
        replay_release(key)
    return response


# --- storing events -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    """One event cut out of a provider's webhook body: `event` names its handler."""

    external_id: str
    event: str
    payload: dict[str, Any]
    is_receipt: bool = False

    def raw(self) -> bytes:
        return json.dumps({"event": self.event, **self.payload}, sort_keys=True).encode()


def store_events(
    *, account: ChannelAccount, body: bytes, events: Sequence[Event], content_type: str
) -> InboundMessage:
    """Store the body as an envelope row, then each event as its own row. Returns the
    envelope. A body delivered twice stores nothing new (same hash, same event ids)."""
    envelope = inbound_store(
        account=account,
        external_id="body:" + hashlib.sha256(body).hexdigest(),
        raw=body,
        content_type=content_type,
        process=False,
    ).inbound
    stored: list[tuple[Event, InboundMessage, bool]] = []
    for event in events:
        result = inbound_store(
            account=account,
            external_id=event.external_id,
            raw=event.raw(),
            content_type="application/json",
            process=not event.is_receipt,
        )
        stored.append((event, result.inbound, result.created))
    if envelope.status == InboundMessage.Status.RECEIVED:
        reason = (
            (
                f"webhook body of {len(events)} event(s), each stored as its own row: "
                + ", ".join(f"{e.event} {row.pk}" for e, row, _ in stored)
            )
            if events
            else "webhook body with no event we store"
        )
        InboundMessage.objects.filter(pk=envelope.pk).update(
            status=InboundMessage.Status.IGNORED,
            reason=reason[:2000],
            processed_at=timezone.now(),
        )
    for event, row, created in stored:
        if event.is_receipt and created:
            receipt_apply_now(row.pk)
    return envelope


def store_unreadable(
    *, account: ChannelAccount, body: bytes, content_type: str, reason: str
) -> InboundMessage:
    """A signed body we cannot split (not JSON, unknown shape): kept, marked failed."""
    row = inbound_store(
        account=account,
        external_id="body:" + hashlib.sha256(body).hexdigest(),
        raw=body,
        content_type=content_type,
        process=False,
    ).inbound
    InboundMessage.objects.filter(pk=row.pk, status=InboundMessage.Status.RECEIVED).update(
        status=InboundMessage.Status.FAILED,
        reason=reason[:2000],
        processed_at=timezone.now(),
        attempts=1,
    )
    return row


def graph_webhook(
    request: HttpRequest,
    *,
    account: ChannelAccount,
    split_body: Callable[[Any], list[Event]],
    label: str,
    acknowledgement: str,
) -> HttpResponse:
    """Meta's Graph webhooks (WhatsApp Cloud API, Messenger, Instagram) share one protocol:
    a GET handshake answering `hub.challenge` for our verify token, then POSTs signed with
    the app secret (X-Hub-Signature-256). A forged POST stores nothing; a signed one is stored
    before we answer, even when we cannot read it."""
    try:
        config = load_config(account)
        secret = config.verify_token if request.method == "GET" else config.app_secret
    except ConfigError:
        return HttpResponse("webhook secrets not configured", status=503)
    if request.method == "GET":
        challenge = hub_challenge(request, secret)
        if challenge is None:
            return HttpResponseForbidden("verification failed")
        return HttpResponse(challenge, content_type="text/plain")
    body = request.body
    if not hub_signature_valid(
        secret=secret, body=body, header=request.headers.get("X-Hub-Signature-256", "")
    ):
        return HttpResponseForbidden("bad signature")
    try:
        events = split_body(json.loads(body))
    except (ValueError, Rejected) as exc:
        store_unreadable(
            account=account,
            body=body,
            content_type="application/json",
            reason=f"unreadable {label} webhook: {exc}",
        )
        return HttpResponse(acknowledgement)
    store_events(account=account, body=body, events=events, content_type="application/json")
    return HttpResponse(acknowledgement)


# --- delivery receipts ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Receipt:
    """Our outbound message `provider_id` reached `status` (delivered, read, failed)."""

    provider_id: str
    status: str
    detail: str = ""


ReceiptParser = Callable[[InboundMessage], Iterable[Receipt]]
RECEIPT_PARSERS: dict[str, ReceiptParser] = {}


def register_receipts(kind: str) -> Callable[[ReceiptParser], ReceiptParser]:
    def wrap(fn: ReceiptParser) -> ReceiptParser:
        RECEIPT_PARSERS[kind] = fn
        return fn

    return wrap


def store_receipt(
    *, account: ChannelAccount, external_id: str, raw: bytes, content_type: str
) -> InboundMessage:
    """Store one delivery receipt as it arrived, then apply it."""
    stored = inbound_store(
        account=account, external_id=external_id, raw=raw, content_type=content_type, process=False
    )
    if stored.created:
        receipt_apply_now(stored.inbound.pk)
    return stored.inbound


def receipt_apply_now(inbound_id: int) -> None:
    try:
        receipt_apply(inbound_id=inbound_id)
    except Exception:  # noqa: BLE001 - the row is stored; the task retries it
        log.warning("receipt %s not applied now; queued", inbound_id, exc_info=True)
        from .receipt_tasks import apply_receipt

        transaction.on_commit(lambda: apply_receipt.delay(inbound_id))


def receipt_apply(*, inbound_id: int) -> InboundMessage:
    """Apply one stored delivery receipt to our outbound deliveries. Idempotent (a status
    never moves back); locks the inbound row. An unreadable receipt ends as failed."""
    with transaction.atomic():
        inbound = (
            InboundMessage.objects.select_for_update(of=("self",))  # not the account row too
            .select_related("account")
            .get(pk=inbound_id)
        )
        if inbound.status != InboundMessage.Status.RECEIVED:
            return inbound
        inbound.attempts += 1
        parse = RECEIPT_PARSERS.get(inbound.account.kind)
        try:
            if parse is None:
                raise Rejected(f"no receipt parser for {inbound.account.kind}")
            receipts = list(parse(inbound))
        except Rejected as exc:
            inbound.status = InboundMessage.Status.FAILED
            inbound.reason = str(exc)[:2000]
        else:
            changed = sum(
                delivery_update_status(
                    provider_id=r.provider_id,
                    status=r.status,
                    detail=r.detail,
                    occurred_at=inbound.received_at,
                )
                for r in receipts
            )
            inbound.status = InboundMessage.Status.PROCESSED
            inbound.reason = (
                (
                    "receipt: "
                    + ", ".join(f"{r.status} {r.provider_id}" for r in receipts)
                    + f"; {changed} delivery(ies) updated"
                )[:2000]
                if receipts
                else "receipt about none of our messages"
            )
        inbound.processed_at = timezone.now()
        inbound.save(update_fields=["status", "reason", "processed_at", "attempts"])
        return inbound


# --- provider HTTP --------------------------------------------------------------------------


class ProviderError(Exception):
    """The provider's API answered with an error, or could not be reached (status 0)."""

    def __init__(self, message: str, *, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code

    @property
    def transient(self) -> bool:
        return self.status == 0 or self.status in (408, 409, 425, 429) or self.status >= 500

    def as_delivery_error(self, provider: str) -> DeliveryError:
        return DeliveryError(f"{provider}: {self}", permanent=not self.transient)


def http_call(
    method: str,
    url: str,
    *,
    provider: str,
    error_message: Callable[[Any], str] = lambda body: "",
    **kwargs: Any,
) -> requests.Response:
    """One request to a provider; ProviderError on a network failure or a non-2xx answer,
    carrying the provider's own error text (`error_message(parsed JSON body)`)."""
    timeout = kwargs.pop("timeout", HTTP_TIMEOUT)
    try:
        response = requests.request(method, url, timeout=timeout, **kwargs)
    except requests.RequestException as exc:
        raise ProviderError(f"{provider} unreachable: {exc.__class__.__name__}") from exc
    if response.status_code >= 400:
        detail = ""
        try:
            detail = error_message(response.json())
        except ValueError:
            detail = response.text[:200]
        raise ProviderError(
            f"{provider} answered {response.status_code}: {detail or response.reason}",
            status=response.status_code,
        )
    return response


def download(url: str, *, provider: str, max_bytes: int, **kwargs: Any) -> tuple[bytes, str]:
    """Fetch a media file, refusing one larger than `max_bytes`. Returns (bytes, type)."""
    response = http_call("GET", url, provider=provider, stream=True, **kwargs)
    declared = int(response.headers.get("Content-Length") or 0)
    if declared > max_bytes:
        response.close()
        raise ProviderError(f"{provider} media of {declared} bytes is over the limit", status=413)
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            response.close()
            raise ProviderError(f"{provider} media is over the {max_bytes} byte limit", status=413)
        chunks.append(chunk)
    content_type = response.headers.get("Content-Type", "application/octet-stream")
    return b"".join(chunks), content_type.split(";")[0].strip()


def location_text(latitude: float, longitude: float, title: str = "") -> str:
    """A shared location as a message line an agent can read and click."""
    where = f"{latitude:.6f}, {longitude:.6f}"
    link = f"https://www.openstreetmap.org/?mlat={latitude:.6f}&mlon={longitude:.6f}"
    return f"Location: {title + ' — ' if title else ''}{where}\n{link}"


def parse_json_body(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Rejected(f"body is not JSON: {exc}") from exc

"""The WhatsApp Cloud API webhook: Meta's GET handshake, then signed POSTs."""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from ..config import ConfigError, WhatsAppConfig, load_config
from ..errors import Rejected
from ..models import ChannelKind
from ..webhooks import (
    account_or_404,
    hub_challenge,
    hub_signature_valid,
    store_events,
    store_unreadable,
)
from .parser import split_body


@csrf_exempt
@require_http_methods(["GET", "POST"])
def webhook(request: HttpRequest, account: str) -> HttpResponse:
    number = account_or_404(account, ChannelKind.WHATSAPP)
    try:
        config: WhatsAppConfig = load_config(number)
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
            account=number,
            body=body,
            content_type="application/json",
            reason=f"unreadable WhatsApp webhook: {exc}",
        )
        return HttpResponse("ok")
    store_events(account=number, body=body, events=events, content_type="application/json")
    return HttpResponse("ok")

"""The bot's webhook. Telegram proves itself with the secret token set at `setWebhook`."""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ..config import ConfigError, load_config
from ..errors import Rejected
from ..models import ChannelKind
from ..services import inbound_store
from ..webhooks import account_or_404, secret_equal, store_unreadable
from .parser import update_event


@csrf_exempt
@require_POST
def webhook(request: HttpRequest, account: str) -> HttpResponse:
    bot = account_or_404(account, ChannelKind.TELEGRAM)
    try:
        secret = load_config(bot).webhook_secret
    except ConfigError:
        return HttpResponse("webhook secret not configured", status=503)
    if not secret_equal(secret, request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")):
        return HttpResponseForbidden("bad secret token")
    body = request.body
    try:
        update_id, _event = update_event(json.loads(body))
    except (ValueError, Rejected) as exc:
        store_unreadable(
            account=bot,
            body=body,
            content_type="application/json",
            reason=f"unreadable Telegram update: {exc}",
        )
        return JsonResponse({"ok": True})
    inbound_store(
        account=bot, external_id=f"update:{update_id}", raw=body, content_type="application/json"
    )
    return JsonResponse({"ok": True})

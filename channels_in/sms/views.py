"""SMS webhooks: messages in, and the status of the messages we sent. Both are signed."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ..config import ConfigError, SmsConfig, load_config
from ..models import ChannelAccount, ChannelKind
from ..services import inbound_store
from ..webhooks import account_or_404, public_url, store_receipt, twilio_signature_valid
from .parser import content_type, one

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _verified(request: HttpRequest, account: str) -> tuple[ChannelAccount, HttpResponse | None]:
    request.body  # noqa: B018 - read the raw bytes before the form parser consumes them
    number = account_or_404(account, ChannelKind.SMS)
    try:
        config: SmsConfig = load_config(number)
        token = config.auth_token
    except ConfigError:
        return number, HttpResponse("auth token not configured", status=503)
    params = {key: request.POST.getlist(key) for key in request.POST}
    if not twilio_signature_valid(
        auth_token=token,
        url=public_url(request, config.webhook_base_url),
        params=params,
        header=request.headers.get("X-Twilio-Signature", ""),
    ):
        return number, HttpResponseForbidden("bad signature")
    return number, None


@csrf_exempt
@require_POST
def inbound(request: HttpRequest, account: str) -> HttpResponse:
    number, refused = _verified(request, account)
    if refused is not None:
        return refused
    sid = one({k: request.POST.getlist(k) for k in request.POST}, "MessageSid")
    inbound_store(
        account=number, external_id=sid, raw=request.body, content_type=content_type("message")
    )
    return HttpResponse(EMPTY_TWIML, content_type="text/xml")


@csrf_exempt
@require_POST
def status(request: HttpRequest, account: str) -> HttpResponse:
    number, refused = _verified(request, account)
    if refused is not None:
        return refused
    sid = request.POST.get("MessageSid", "")
    state = request.POST.get("MessageStatus", "")
    store_receipt(
        account=number,
        external_id=f"status:{sid}:{state}",
        raw=request.body,
        content_type=content_type("status"),
    )
    return HttpResponse(status=204)

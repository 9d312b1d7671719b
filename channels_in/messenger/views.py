"""The Messenger/Instagram webhook: Meta's GET handshake, then signed POSTs."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from ..models import ChannelKind
from ..webhooks import account_or_404, graph_webhook
from .parser import split_body


@csrf_exempt
@require_http_methods(["GET", "POST"])
def webhook(request: HttpRequest, account: str) -> HttpResponse:
    return graph_webhook(
        request,
        account=account_or_404(account, ChannelKind.MESSENGER),
        split_body=split_body,
        label="Messenger",
        acknowledgement="EVENT_RECEIVED",
    )

"""Helpers shared by the messaging, SMS and voice webhook tests."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from channels_in.models import InboundMessage
from channels_in.services import inbound_process
from channels_in.webhooks import twilio_signature


def process_received() -> list[InboundMessage]:
    """What the ingest worker would do next: process every stored, unprocessed row."""
    rows = list(InboundMessage.objects.filter(status=InboundMessage.Status.RECEIVED).order_by("id"))
    return [inbound_process(inbound_id=row.pk) for row in rows]


def hub_signed(secret: str, payload: Any) -> tuple[bytes, str]:
    body = json.dumps(payload).encode()
    return body, "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def twilio_signed(token: str, url: str, data: dict[str, str]) -> str:
    return twilio_signature(auth_token=token, url=url, params={k: [v] for k, v in data.items()})

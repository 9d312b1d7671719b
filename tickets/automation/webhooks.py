"""Signed webhooks, in Stripe's scheme: the header `Helpdesk-Signature: t=<unix time>,v1=<hex>`
where v1 is HMAC-SHA256 of "<t>.<body>" under the rule's secret. A receiver recomputes it and
refuses a timestamp older than its tolerance (replays)."""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "Helpdesk-Signature"
DEFAULT_TOLERANCE = 300


def webhook_signature(*, secret: str, timestamp: int, body: str) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def webhook_verify(
    *,
    secret: str,
    header: str,
    body: str,
    tolerance: int = DEFAULT_TOLERANCE,
    now: int | None = None,
) -> bool:
    """Whether `header` signs `body` with `secret` within `tolerance` seconds."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs((now if now is not None else int(time.time())) - timestamp) > tolerance:
        return False
    expected = webhook_signature(secret=secret, timestamp=timestamp, body=body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))

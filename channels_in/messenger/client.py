"""The Messenger Send API (also Instagram messaging) over HTTPS."""

from __future__ import annotations

from typing import Any

from ..config import MessengerConfig
from ..webhooks import download, http_call
from ..whatsapp.client import graph_error

PROVIDER = "Messenger"


class MessengerClient:
    def __init__(self, config: MessengerConfig) -> None:
        self.config = config

    def send_text(self, *, recipient: str, text: str, tag: str = "") -> str:
        body: dict[str, Any] = {
            "recipient": {"id": recipient},
            "message": {"text": text[:2000]},
            "messaging_type": "MESSAGE_TAG" if tag else "RESPONSE",
        }
        if tag:
            body["tag"] = tag
        url = f"{self.config.api_base}/{self.config.api_version}/me/messages"
        response = http_call(
            "POST",
            url,
            provider=PROVIDER,
            error_message=graph_error,
            json=body,
            params={"access_token": self.config.page_access_token},
        )
        return str(response.json()["message_id"])

    def download(self, url: str, *, max_bytes: int) -> tuple[bytes, str]:
        return download(url, provider=PROVIDER, max_bytes=max_bytes)

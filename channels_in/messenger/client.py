"""The Messenger Send API (also Instagram messaging) over HTTPS."""

from __future__ import annotations

import json
from typing import Any

from ..config import MessengerConfig
from ..webhooks import download, http_call
from ..whatsapp.client import graph_error

PROVIDER = "Messenger"
MAX_TEXT = 2000  # the Send API's limit for a text message, in characters


class MessengerClient:
    def __init__(self, config: MessengerConfig) -> None:
        self.config = config

    def _post(self, **kwargs: Any) -> str:
        url = f"{self.config.api_base}/{self.config.api_version}/me/messages"
        response = http_call(
            "POST",
            url,
            provider=PROVIDER,
            error_message=graph_error,
            params={"access_token": self.config.page_access_token},
            **kwargs,
        )
        return str(response.json()["message_id"])

    @staticmethod
    def _messaging(tag: str) -> dict[str, str]:
        return (
            {"messaging_type": "MESSAGE_TAG", "tag": tag} if tag else {"messaging_type": "RESPONSE"}
        )

    def send_text(self, *, recipient: str, text: str, tag: str = "") -> str:
        if len(text) > MAX_TEXT:  # a caller's bug: split it (parts.text_parts), never cut it
            raise ValueError(f"{PROVIDER} text of {len(text)} characters, over {MAX_TEXT}")
        body: dict[str, Any] = {
            "recipient": {"id": recipient},
            "message": {"text": text},
            **self._messaging(tag),
        }
        return self._post(json=body)

    def send_file(
        self,
        *,
        recipient: str,
        kind: str,
        name: str,
        content_type: str,
        content: bytes,
        tag: str = "",
    ) -> str:
        """Upload and send one file in one call: a multipart Send API request whose
        `filedata` is the file, `kind` one of image, video, audio, file."""
        attachment = {"type": kind, "payload": {"is_reusable": False}}
        data = {
            "recipient": json.dumps({"id": recipient}),
            "message": json.dumps({"attachment": attachment}),
            **self._messaging(tag),
        }
        return self._post(data=data, files={"filedata": (name, content, content_type)})

    def download(self, url: str, *, max_bytes: int) -> tuple[bytes, str]:
        return download(url, provider=PROVIDER, max_bytes=max_bytes)

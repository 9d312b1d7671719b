"""The Telegram Bot API over HTTPS."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..config import TelegramConfig
from ..webhooks import ProviderError, download, http_call

PROVIDER = "Telegram"
# The Bot API's limits, in characters: a text message, and the caption under a file.
# Callers split a longer text (parts.text_parts); the client refuses it, never cuts it.
MAX_TEXT = 4096
MAX_CAPTION = 1024


def check_length(what: str, text: str, limit: int) -> None:
    if len(text) > limit:
        raise ValueError(f"{PROVIDER} {what} of {len(text)} characters, over {limit}")


def _error(body: Any) -> str:
    return str(body.get("description", "")) if isinstance(body, dict) else ""


class TelegramClient:
    def __init__(self, config: TelegramConfig) -> None:
        self.config = config

    def _call(self, method: str, payload: dict[str, Any], files: Any = None) -> Any:
        """One Bot API method: JSON, or a multipart form when it uploads `files`."""
        url = f"{self.config.api_base}/bot{self.config.bot_token}/{method}"
        body: dict[str, Any] = {"data": payload, "files": files} if files else {"json": payload}
        response = http_call("POST", url, provider=PROVIDER, error_message=_error, **body)
        body = response.json()
        if not body.get("ok"):
            raise ProviderError(f"Telegram refused {method}: {_error(body)}", status=400)
        return body["result"]

    def send_message(self, *, chat_id: str, text: str) -> int:
        check_length("text", text, MAX_TEXT)
        result = self._call("sendMessage", {"chat_id": chat_id, "text": text})
        return int(result["message_id"])

    def send_documents(
        self, *, chat_id: str, files: Sequence[tuple[str, str, bytes]], caption: str
    ) -> int:
        """Upload (name, content type, bytes) files as one message, `caption` under them: one
        call, so a retry never repeats half of it. Returns the (last) message id."""
        check_length("caption", caption, MAX_CAPTION)
        captioned: dict[str, str] = {"caption": caption} if caption else {}
        if len(files) == 1:
            [(name, content_type, content)] = files
            result = self._call(
                "sendDocument",
                {"chat_id": chat_id, **captioned},
                files={"document": (name, content, content_type)},
            )
            return int(result["message_id"])
        media: list[dict[str, str]] = [
            {"type": "document", "media": f"attach://file{n}"} for n in range(len(files))
        ]
        media[-1].update(captioned)  # a document album shows the last caption under it
        results = self._call(
            "sendMediaGroup",
            {"chat_id": chat_id, "media": json.dumps(media)},
            files={
                f"file{n}": (name, content, ctype) for n, (name, ctype, content) in enumerate(files)
            },
        )
        return int(results[-1]["message_id"])

    def download_file(self, file_id: str, *, max_bytes: int) -> tuple[bytes, str, str]:
        """(content, content type, file name) of a file a user sent."""
        info = self._call("getFile", {"file_id": file_id})
        path = str(info["file_path"])
        url = f"{self.config.api_base}/file/bot{self.config.bot_token}/{path}"
        content, content_type = download(url, provider=PROVIDER, max_bytes=max_bytes)
        return content, content_type, path.rsplit("/", 1)[-1]

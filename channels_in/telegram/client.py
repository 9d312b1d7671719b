"""The Telegram Bot API over HTTPS."""

from __future__ import annotations

from typing import Any

from ..config import TelegramConfig
from ..webhooks import ProviderError, download, http_call

PROVIDER = "Telegram"


def _error(body: Any) -> str:
    return str(body.get("description", "")) if isinstance(body, dict) else ""


class TelegramClient:
    def __init__(self, config: TelegramConfig) -> None:
        self.config = config

    def _call(self, method: str, payload: dict[str, Any]) -> Any:
        url = f"{self.config.api_base}/bot{self.config.bot_token}/{method}"
        response = http_call("POST", url, provider=PROVIDER, error_message=_error, json=payload)
        body = response.json()
        if not body.get("ok"):
            raise ProviderError(f"Telegram refused {method}: {_error(body)}", status=400)
        return body["result"]

    def send_message(self, *, chat_id: str, text: str) -> int:
        result = self._call("sendMessage", {"chat_id": chat_id, "text": text[:4096]})
        return int(result["message_id"])

    def download_file(self, file_id: str, *, max_bytes: int) -> tuple[bytes, str, str]:
        """(content, content type, file name) of a file a user sent."""
        info = self._call("getFile", {"file_id": file_id})
        path = str(info["file_path"])
        url = f"{self.config.api_base}/file/bot{self.config.bot_token}/{path}"
        content, content_type = download(url, provider=PROVIDER, max_bytes=max_bytes)
        return content, content_type, path.rsplit("/", 1)[-1]

"""A Twilio-compatible Messages API over HTTPS (basic auth: account SID and auth token)."""

from __future__ import annotations

from typing import Any

from ..config import SmsConfig
from ..webhooks import download, http_call

PROVIDER = "SMS provider"
MAX_BODY = 1600  # Twilio's limit for one message's Body (it sends it as linked segments)


def twilio_error(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    return f"({body.get('code')}) {body.get('message', '')}".strip()


class SmsClient:
    def __init__(self, config: SmsConfig) -> None:
        self.config = config

    def _auth(self) -> tuple[str, str]:
        return (self.config.account_sid, self.config.auth_token)

    def send(self, *, to: str, body: str, status_callback: str = "") -> str:
        url = f"{self.config.api_base}/2010-04-01/Accounts/{self.config.account_sid}/Messages.json"
        if len(body) > MAX_BODY:  # a caller's bug: split it (parts.text_parts), never cut it
            raise ValueError(f"{PROVIDER} body of {len(body)} characters, over {MAX_BODY}")
        data = {"To": to, "From": self.config.from_number, "Body": body}
        if status_callback:
            data["StatusCallback"] = status_callback
        response = http_call(
            "POST", url, provider=PROVIDER, error_message=twilio_error, data=data, auth=self._auth()
        )
        return str(response.json()["sid"])

    def download(self, url: str, *, max_bytes: int) -> tuple[bytes, str]:
        return download(url, provider=PROVIDER, max_bytes=max_bytes, auth=self._auth())

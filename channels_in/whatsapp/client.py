"""The WhatsApp Cloud API (Graph) over HTTPS."""

from __future__ import annotations

from typing import Any

from ..config import WhatsAppConfig
from ..webhooks import download, http_call

PROVIDER = "WhatsApp"
# The Cloud API's limits, in characters: a text message's body, a media caption, and a
# template's text parameter. Callers split or refuse a longer text; the client never cuts it.
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_TEMPLATE_TEXT = 1024


def check_length(what: str, text: str, limit: int) -> None:
    """Refuse, loudly, a text the API would cut or reject: a caller's bug, never the
    customer's problem to discover."""
    if len(text) > limit:
        raise ValueError(f"{PROVIDER} {what} of {len(text)} characters, over {limit}")


def graph_error(body: Any) -> str:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return ""
    return f"({error.get('code')}) {error.get('message', '')}".strip()


class WhatsAppClient:
    def __init__(self, config: WhatsAppConfig) -> None:
        self.config = config

    @property
    def _base(self) -> str:
        return f"{self.config.api_base}/{self.config.api_version}"

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config.access_token}"}

    def _send(self, payload: dict[str, Any]) -> str:
        url = f"{self._base}/{self.config.phone_number_id}/messages"
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", **payload}
        response = http_call(
            "POST",
            url,
            provider=PROVIDER,
            error_message=graph_error,
            json=body,
            headers=self._auth(),
        )
        return str(response.json()["messages"][0]["id"])

    def send_text(self, *, to: str, text: str) -> str:
        check_length("text", text, MAX_TEXT)
        return self._send({"to": to, "type": "text", "text": {"preview_url": False, "body": text}})

    def send_template(self, *, to: str, name: str, language: str, text: str | None) -> str:
        template: dict[str, Any] = {"name": name, "language": {"code": language}}
        if text is not None:
            check_length("template text", text, MAX_TEMPLATE_TEXT)
            template["components"] = [
                {"type": "body", "parameters": [{"type": "text", "text": text}]}
            ]
        return self._send({"to": to, "type": "template", "template": template})

    def upload_media(self, *, name: str, content_type: str, content: bytes) -> str:
        """Upload one file for a message to come (POST /<phone number id>/media, multipart);
        returns its media id. The customer sees nothing until a message names that id."""
        response = http_call(
            "POST",
            f"{self._base}/{self.config.phone_number_id}/media",
            provider=PROVIDER,
            error_message=graph_error,
            data={"messaging_product": "whatsapp", "type": content_type},
            files={"file": (name, content, content_type)},
            headers=self._auth(),
        )
        return str(response.json()["id"])

    def send_media(
        self, *, to: str, kind: str, media_id: str, caption: str = "", filename: str = ""
    ) -> str:
        """A message of `kind` image, video, audio or document showing an uploaded file.
        Audio takes no caption; only a document has a file name."""
        media: dict[str, str] = {"id": media_id}
        check_length("caption", caption, MAX_CAPTION)
        if caption and kind != "audio":
            media["caption"] = caption
        if filename and kind == "document":
            media["filename"] = filename
        return self._send({"to": to, "type": kind, kind: media})

    def download_media(self, media_id: str, *, max_bytes: int) -> tuple[bytes, str]:
        """A customer's media: its URL comes from the media id, then the bytes (both need
        the access token)."""
        info = http_call(
            "GET",
            f"{self._base}/{media_id}",
            provider=PROVIDER,
            error_message=graph_error,
            headers=self._auth(),
        ).json()
        return download(
            str(info["url"]), provider=PROVIDER, max_bytes=max_bytes, headers=self._auth()
        )

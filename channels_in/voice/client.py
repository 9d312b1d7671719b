"""Fetching a voicemail recording from a Twilio-compatible API."""

from __future__ import annotations

from ..config import PhoneConfig
from ..webhooks import download

PROVIDER = "Voice provider"


class VoiceClient:
    def __init__(self, config: PhoneConfig) -> None:
        self.config = config

    def recording(self, url: str, *, max_bytes: int) -> tuple[bytes, str]:
        """The recording as MP3 (Twilio serves a format by the URL's extension)."""
        return download(
            f"{url}.mp3",
            provider=PROVIDER,
            max_bytes=max_bytes,
            auth=(self.config.account_sid, self.config.auth_token),
        )

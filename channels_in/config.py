"""Typed configuration of every channel account, loaded from `ChannelAccount.config`.

`load_config(account)` picks the dataclass for the account's kind and builds it strictly: an
unknown key, a missing required key or a value of the wrong type raises `ConfigError` naming
the account and the key, so a typo in the admin fails loudly instead of being ignored.

Secrets are never stored in the row. A field ending in `_env` names the environment variable
that holds the secret (e.g. `{"bot_token_env": "TELEGRAM_SUPPORT_TOKEN"}`), and the matching
property (`TelegramConfig.bot_token`) reads it when the secret is used, so rotating a secret is
an environment change and a database dump leaks none.
"""

from __future__ import annotations

import dataclasses
import os
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .models import ChannelAccount, ChannelKind


class ConfigError(ValueError):
    """A channel account's configuration is unusable; the message says which key and why."""


def secret_from_env(name: str, *, what: str) -> str:
    """The secret held by environment variable `name`; ConfigError when unset or empty."""
    if not name:
        raise ConfigError(f"{what}: no environment variable named for it")
    value = os.environ.get(name, "")
    if not value:
        raise ConfigError(f"{what}: environment variable {name} is not set")
    return value


# --- live chat ------------------------------------------------------------------------------

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


@dataclass(frozen=True, slots=True)
class OpeningHours:
    """One weekly opening window, e.g. days ("mon", "tue"), 09:00 to 17:30 local time."""

    days: tuple[str, ...]
    start: str
    end: str

    def __post_init__(self) -> None:
        for day in self.days:
            if day not in _DAYS:
                raise ConfigError(f"hours: unknown day {day!r} (use {', '.join(_DAYS)})")
        for value in (self.start, self.end):
            if not _HHMM.match(value):
                raise ConfigError(f"hours: {value!r} is not HH:MM")
        if self.start >= self.end:
            raise ConfigError(f"hours: {self.start}-{self.end} ends before it starts")

    def contains(self, local: datetime) -> bool:
        if _DAYS[local.weekday()] not in self.days:
            return False
        now = local.time()
        return time.fromisoformat(self.start) <= now < time.fromisoformat(self.end)


@dataclass(frozen=True, slots=True)
class ChatConfig:
    """A website chat widget.

    `allowed_origins` are the sites that may embed it (`https://shop.example.com`); the help
    desk's own origin is always allowed (the demo page). Empty `hours` means always open.
    """

    allowed_origins: tuple[str, ...] = ()
    title: str = "Chat with us"
    welcome: str = "Hi! How can we help?"
    offline_message: str = (
        "No one is online right now. Leave your message and email address and we will "
        "reply by email."
    )
    color: str = "#2563eb"
    timezone: str = "UTC"
    hours: tuple[OpeningHours, ...] = ()
    holidays: tuple[str, ...] = ()
    max_message_chars: int = 4000
    max_frame_bytes: int = 16384
    max_upload_bytes: int = 10 * 1024 * 1024
    rate_limit_messages: int = 20
    rate_limit_seconds: int = 10

    def __post_init__(self) -> None:
        for origin in self.allowed_origins:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
                raise ConfigError(f"allowed_origins: {origin!r} is not scheme://host[:port]")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"timezone: unknown time zone {self.timezone!r}") from exc
        if not re.match(r"^#[0-9a-fA-F]{6}$", self.color):
            raise ConfigError(f"color: {self.color!r} is not #rrggbb")
        for day in self.holidays:
            if not re.match(r"^\d{4}-\d\d-\d\d$", day):
                raise ConfigError(f"holidays: {day!r} is not YYYY-MM-DD")
        if (
            min(
                self.max_message_chars,
                self.max_frame_bytes,
                self.rate_limit_messages,
                self.rate_limit_seconds,
                self.max_upload_bytes,
            )
            <= 0
        ):
            raise ConfigError("limits must be positive")

    def is_open(self, at: datetime) -> bool:
        local = at.astimezone(ZoneInfo(self.timezone))
        if local.date().isoformat() in self.holidays:
            return False
        return not self.hours or any(window.contains(local) for window in self.hours)


# --- messaging apps -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TelegramConfig:
    """A Telegram bot. The webhook must be registered with the same `secret_token`."""

    bot_token_env: str
    webhook_secret_env: str
    api_base: str = "https://api.telegram.org"
    download_media: bool = True

    @property
    def bot_token(self) -> str:
        return secret_from_env(self.bot_token_env, what="telegram bot token")

    @property
    def webhook_secret(self) -> str:
        return secret_from_env(self.webhook_secret_env, what="telegram webhook secret")


@dataclass(frozen=True, slots=True)
class WhatsAppConfig:
    """A WhatsApp Cloud API number. Outside the 24-hour customer service window only an
    approved template may be sent: `template_name` (with the agent's text as its one body
    parameter when `template_takes_text`)."""

    phone_number_id: str
    access_token_env: str
    app_secret_env: str
    verify_token_env: str
    api_base: str = "https://graph.facebook.com"
    api_version: str = "v21.0"
    template_name: str = ""
    template_language: str = "en_US"
    template_takes_text: bool = True
    download_media: bool = True

    @property
    def access_token(self) -> str:
        return secret_from_env(self.access_token_env, what="whatsapp access token")

    @property
    def app_secret(self) -> str:
        return secret_from_env(self.app_secret_env, what="whatsapp app secret")

    @property
    def verify_token(self) -> str:
        return secret_from_env(self.verify_token_env, what="whatsapp verify token")


@dataclass(frozen=True, slots=True)
class MessengerConfig:
    """A Facebook Page (Messenger) or an Instagram professional account (`platform`)."""

    page_id: str
    page_access_token_env: str
    app_secret_env: str
    verify_token_env: str
    platform: str = "messenger"
    api_base: str = "https://graph.facebook.com"
    api_version: str = "v21.0"

    def __post_init__(self) -> None:
        if self.platform not in ("messenger", "instagram"):
            raise ConfigError(f"platform: {self.platform!r} is not messenger or instagram")

    @property
    def page_access_token(self) -> str:
        return secret_from_env(self.page_access_token_env, what="page access token")

    @property
    def app_secret(self) -> str:
        return secret_from_env(self.app_secret_env, what="app secret")

    @property
    def verify_token(self) -> str:
        return secret_from_env(self.verify_token_env, what="verify token")


# --- Twilio-compatible SMS and voice --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SmsConfig:
    """An SMS number on a Twilio-compatible API.

    `webhook_base_url` is the public scheme://host the provider calls (signatures cover the
    exact URL, which a proxy in front of us would otherwise change); empty means the URL the
    request arrived on."""

    account_sid: str
    auth_token_env: str
    from_number: str
    api_base: str = "https://api.twilio.com"
    webhook_base_url: str = ""
    download_media: bool = True

    @property
    def auth_token(self) -> str:
        return secret_from_env(self.auth_token_env, what="twilio auth token")


@dataclass(frozen=True, slots=True)
class IvrOption:
    """Press `digit` for `label`: the call goes to `group` (its name), rings `forward_to`
    when set, and otherwise (or unanswered) takes a voicemail for that group."""

    digit: str
    label: str
    group: str = ""
    forward_to: str = ""

    def __post_init__(self) -> None:
        if len(self.digit) != 1 or self.digit not in "0123456789*#":
            raise ConfigError(f"menu: {self.digit!r} is not one key of the phone keypad")


@dataclass(frozen=True, slots=True)
class PhoneConfig:
    """A voice number on a Twilio-compatible API, with its IVR menu."""

    account_sid: str
    auth_token_env: str
    greeting: str = "Thank you for calling."
    menu: tuple[IvrOption, ...] = ()
    voicemail_prompt: str = "Please leave a message after the tone."
    max_recording_seconds: int = 120
    transcribe: bool = True
    voice: str = "alice"
    webhook_base_url: str = ""
    api_base: str = "https://api.twilio.com"
    download_recordings: bool = True

    def __post_init__(self) -> None:
        digits = [option.digit for option in self.menu]
        if len(digits) != len(set(digits)):
            raise ConfigError("menu: a key is used twice")
        if not 5 <= self.max_recording_seconds <= 3600:
            raise ConfigError("max_recording_seconds: must be between 5 and 3600")

    @property
    def auth_token(self) -> str:
        return secret_from_env(self.auth_token_env, what="twilio auth token")

    def option(self, digit: str) -> IvrOption | None:
        return next((option for option in self.menu if option.digit == digit), None)


# --- loading --------------------------------------------------------------------------------

T = TypeVar("T")

CONFIG_TYPES: dict[str, type[Any]] = {
    ChannelKind.CHAT: ChatConfig,
    ChannelKind.TELEGRAM: TelegramConfig,
    ChannelKind.WHATSAPP: WhatsAppConfig,
    ChannelKind.MESSENGER: MessengerConfig,
    ChannelKind.SMS: SmsConfig,
    ChannelKind.PHONE: PhoneConfig,
}


def register_config(kind: str) -> Callable[[type[T]], type[T]]:
    """Let a channel package supply (or replace) the dataclass of its kind."""

    def wrap(cls: type[T]) -> type[T]:
        CONFIG_TYPES[kind] = cls
        return cls

    return wrap


def load_config(account: ChannelAccount) -> Any:
    """The account's configuration as its kind's dataclass. Raises ConfigError (email's own
    loader raises `channels_in.email.config.ConfigError`, also a ValueError)."""
    if account.kind == ChannelKind.EMAIL:
        from .email.config import load_email_config  # the email package types its own config

        return load_email_config(account)
    cls = CONFIG_TYPES.get(account.kind)
    if cls is None:
        raise ConfigError(f"{account.name}: no configuration type for kind {account.kind!r}")
    try:
        return build(cls, account.config or {}, path="config")
    except ConfigError as exc:
        raise ConfigError(f"{account.name}: {exc}") from exc


def build(cls: type[T], data: Any, *, path: str) -> T:
    """A dataclass from JSON data, checking every key and type (no coercion of strings)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected an object, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(unknown)}")
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for name, spec in fields.items():
        if name not in data:
            if spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{path}.{name}: required")
            continue
        kwargs[name] = _value(hints[name], data[name], path=f"{path}.{name}")
    return cls(**kwargs)


def _value(hint: Any, value: Any, *, path: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is tuple:
        (item_hint, _ellipsis) = typing.get_args(hint)
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{path}: expected a list")
        return tuple(_value(item_hint, item, path=f"{path}[{i}]") for i, item in enumerate(value))
    if dataclasses.is_dataclass(hint):
        return build(hint, value, path=path)  # type: ignore[arg-type]
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected a whole number")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected text")
        return value
    raise ConfigError(f"{path}: unsupported type {hint!r}")


__all__ = [
    "CONFIG_TYPES",
    "ChatConfig",
    "ConfigError",
    "IvrOption",
    "MessengerConfig",
    "OpeningHours",
    "PhoneConfig",
    "SmsConfig",
    "TelegramConfig",
    "WhatsAppConfig",
    "build",
    "load_config",
    "register_config",
    "secret_from_env",
]

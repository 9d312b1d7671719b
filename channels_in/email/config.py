"""An email account's options, typed and validated, loaded from `ChannelAccount.config`.

The JSON shape (every key optional unless the feature is used)::

    {
      "imap": {"host": "imap.example.com", "port": 993, "ssl": true, "starttls": false,
               "username": "support@example.com", "password_env": "SUPPORT_IMAP_PASSWORD",
               "oauth2": {"provider": "google" | "microsoft", "client_id": "...",
                          "client_secret_env": "...", "refresh_token_env": "...",
                          "tenant": "common", "token_url": "https://..."},
               "folder": "INBOX", "after_fetch": "seen" | "move:Processed" | "delete",
               "batch_size": 50, "timeout": 30},
      "smtp": {"host": "smtp.example.com", "port": 587, "starttls": true, "ssl": false,
               "username": "...", "password_env": "...", "timeout": 30},
      "esp": "mailgun", "esp_api_key_env": "MAILGUN_API_KEY",
      "webhook": {"provider": "mailgun" | "postmark" | "sendgrid" | "ses",
                  "signing_key_env": "...", "basic_auth_env": "...",
                  "sns_topic_arns": ["arn:aws:sns:..."]},
      "ack_enabled": false, "ack_subject": "...", "ack_template": "...",
      "ack_rate_limit_per_hour": 3,
      "ack_requires_auth": true, "trusted_authserv_ids": ["mx.example.com"],
      "max_message_bytes": 41943040,
      "routing": [{"address": "billing@example.com", "group": 3}]
    }

An acknowledgement goes only to a sender who passed authentication (an aligned DMARC, DKIM or
SPF pass in an `Authentication-Results` header written by one of `trusted_authserv_ids`, the
authserv-ids of the mailbox's own receiving servers) or is a known contact. A mailbox whose
server writes no such header sets `ack_requires_auth: false`; machine mail and spam are never
acknowledged either way.

Secrets never live in the row: each `*_env` names an environment variable, read only when the
secret is needed (`secret()`), so an account can be configured before its secret is deployed.
Microsoft rotates refresh tokens; the one in the environment stays valid for its lifetime
(about 90 days) and must be renewed there.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.template import Context, Engine, Template, TemplateSyntaxError

from ..models import ChannelAccount

AFTER_FETCH_ACTIONS = ("seen", "move", "delete")
OAUTH2_PROVIDERS = ("google", "microsoft")
WEBHOOK_PROVIDERS = ("mailgun", "postmark", "sendgrid", "ses")
ESP_BACKENDS = {
    "amazon_ses": "anymail.backends.amazon_ses.EmailBackend",
    "mailgun": "anymail.backends.mailgun.EmailBackend",
    "mailjet": "anymail.backends.mailjet.EmailBackend",
    "postmark": "anymail.backends.postmark.EmailBackend",
    "sendgrid": "anymail.backends.sendgrid.EmailBackend",
    "sparkpost": "anymail.backends.sparkpost.EmailBackend",
    "brevo": "anymail.backends.brevo.EmailBackend",
    "resend": "anymail.backends.resend.EmailBackend",
}
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"  # noqa: S105 (a URL)
MICROSOFT_TOKEN_URL = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"  # noqa: S105
MICROSOFT_IMAP_SCOPE = "https://outlook.office.com/IMAP.AccessAsUser.All offline_access"

DEFAULT_ACK_SUBJECT = "We received your request: {{ ticket.subject }}"
DEFAULT_ACK_TEMPLATE = (
    "Hello {{ name }},\n\n"
    "Thank you for writing to us. Your request is now ticket #{{ ticket.number }}; "
    "a member of our team will answer soon.\n"
    "Reply to this email to add anything to it.\n"
)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+$")


class ConfigError(ValueError):
    """The account's configuration cannot be used; the message names the field and the fix."""


@dataclass(frozen=True, slots=True)
class OAuth2Config:
    provider: str
    client_id: str
    client_secret_env: str
    refresh_token_env: str
    token_url: str
    scope: str = ""

    def client_secret(self) -> str:
        return secret(self.client_secret_env, "imap.oauth2.client_secret_env")

    def refresh_token(self) -> str:
        return secret(self.refresh_token_env, "imap.oauth2.refresh_token_env")


@dataclass(frozen=True, slots=True)
class ImapConfig:
    host: str
    port: int
    ssl: bool
    starttls: bool
    username: str
    password_env: str
    oauth2: OAuth2Config | None
    folder: str
    after_fetch: str
    move_to: str
    batch_size: int
    timeout: float

    def password(self) -> str:
        return secret(self.password_env, "imap.password_env")


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str
    port: int
    starttls: bool
    ssl: bool
    username: str
    password_env: str
    timeout: float

    def password(self) -> str:
        return secret(self.password_env, "smtp.password_env") if self.password_env else ""


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    provider: str
    signing_key_env: str
    basic_auth_env: str
    sns_topic_arns: tuple[str, ...]

    def signing_key(self) -> str:
        return secret(self.signing_key_env, "webhook.signing_key_env")

    def basic_auth(self) -> str:
        """`user:password` expected in the request's Authorization header ('' when unused)."""
        return secret(self.basic_auth_env, "webhook.basic_auth_env") if self.basic_auth_env else ""


@dataclass(frozen=True, slots=True)
class RoutingRule:
    address: str
    group_id: int


@dataclass(frozen=True, slots=True)
class EmailAccountConfig:
    address: str
    imap: ImapConfig | None = None
    smtp: SmtpConfig | None = None
    esp: str = ""
    esp_api_key_env: str = ""
    webhook: WebhookConfig | None = None
    ack_enabled: bool = False
    ack_subject: str = DEFAULT_ACK_SUBJECT
    ack_template: str = DEFAULT_ACK_TEMPLATE
    ack_rate_limit_per_hour: int = 3
    ack_requires_auth: bool = True
    trusted_authserv_ids: tuple[str, ...] = ()
    max_message_bytes: int = 40 * 1024 * 1024
    routing: tuple[RoutingRule, ...] = field(default_factory=tuple)

    def group_for(self, recipients: tuple[str, ...] | list[str]) -> int | None:
        """The group of the first routing rule matching one of the recipients, in rule order."""
        wanted = {_strip_tag(r.lower()) for r in recipients}
        for rule in self.routing:
            if _strip_tag(rule.address) in wanted:
                return rule.group_id
        return None

    def receives(self, address: str) -> bool:
        """Mail for this address belongs to the account: its own address or a routed alias,
        with or without a `+tag`."""
        address = _strip_tag(address.lower())
        return address == _strip_tag(self.address) or any(
            address == _strip_tag(rule.address) for rule in self.routing
        )

    def render_ack(self, context: dict[str, Any]) -> tuple[str, str]:
        """(subject, text) of the acknowledgement for this context."""
        ctx = Context(context, autoescape=False)
        subject = _template(self.ack_subject, "ack_subject").render(ctx)
        return " ".join(subject.split())[:250], _template(self.ack_template, "ack_template").render(
            ctx
        )


def secret(env_name: str, what: str) -> str:
    value = os.environ.get(env_name, "")
    if not value:
        raise ConfigError(f"environment variable {env_name} ({what}) is not set")
    return value


def _strip_tag(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


def _template(source: str, where: str) -> Template:
    try:
        return Engine(autoescape=False).from_string(source)
    except TemplateSyntaxError as exc:
        raise ConfigError(f"{where}: template error: {exc}") from exc


# --- validation helpers ----------------------------------------------------------------------


class _Reader:
    """Reads one JSON object, naming the dotted path in every error."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"{path or 'config'}: must be an object, got {type(data).__name__}")
        self.data = data
        self.path = path

    def _name(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return self.data.get(key) not in (None, "")

    def text(self, key: str, default: str | None = None, *, choices: tuple[str, ...] = ()) -> str:
        value = self.data.get(key, default)
        if value is None:
            raise ConfigError(f"{self._name(key)}: required")
        if not isinstance(value, str):
            raise ConfigError(f"{self._name(key)}: must be text, got {value!r}")
        value = value.strip()
        if choices and value not in choices:
            raise ConfigError(
                f"{self._name(key)}: must be one of {', '.join(choices)}, got {value!r}"
            )
        return value

    def env(self, key: str, *, required: bool = True) -> str:
        value = self.text(key, None if required else "")
        if value and not _ENV_NAME.match(value):
            raise ConfigError(
                f"{self._name(key)}: must name an environment variable (like SUPPORT_PASSWORD), "
                f"got {value!r}; secrets are never stored in the account itself"
            )
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise ConfigError(f"{self._name(key)}: must be true or false, got {value!r}")
        return value

    def number(self, key: str, default: int, *, low: int, high: int) -> int:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ConfigError(
                f"{self._name(key)}: must be a whole number from {low} to {high}, got {value!r}"
            )
        return value

    def obj(self, key: str) -> _Reader | None:
        if self.data.get(key) is None:
            return None
        return _Reader(self.data[key], self._name(key))

    def items(self, key: str) -> list[Any]:
        value = self.data.get(key, [])
        if not isinstance(value, list):
            raise ConfigError(f"{self._name(key)}: must be a list, got {value!r}")
        return value


def _oauth2(r: _Reader) -> OAuth2Config:
    provider = r.text("provider", choices=OAUTH2_PROVIDERS)
    if provider == "google":
        default_url = GOOGLE_TOKEN_URL
        scope = ""
    else:
        default_url = MICROSOFT_TOKEN_URL.format(tenant=r.text("tenant", "common") or "common")
        scope = MICROSOFT_IMAP_SCOPE
    token_url = r.text("token_url", default_url) or default_url
    if not token_url.startswith("https://"):
        raise ConfigError(f"{r.path}.token_url: must be an https:// URL, got {token_url!r}")
    client_id = r.text("client_id")
    if not client_id:
        raise ConfigError(f"{r.path}.client_id: required")
    return OAuth2Config(
        provider=provider,
        client_id=client_id,
        client_secret_env=r.env("client_secret_env"),
        refresh_token_env=r.env("refresh_token_env"),
        token_url=token_url,
        scope=r.text("scope", scope),
    )


def _imap(r: _Reader, address: str) -> ImapConfig:
    host = r.text("host")
    if not host:
        raise ConfigError("imap.host: required (the IMAP server's name, like imap.example.com)")
    ssl = r.flag("ssl", True)
    starttls = r.flag("starttls", False)
    if ssl and starttls:
        raise ConfigError("imap: choose ssl (port 993) or starttls (port 143), not both")
    oauth = r.obj("oauth2")
    password_env = r.env("password_env", required=False)
    if oauth is None and not password_env:
        raise ConfigError("imap: needs password_env (a password) or oauth2 (Google, Microsoft)")
    if oauth is not None and password_env:
        raise ConfigError("imap: give password_env or oauth2, not both")
    action = r.text("after_fetch", "seen")
    verb, _, folder = action.partition(":")
    if verb not in AFTER_FETCH_ACTIONS or (verb == "move") != bool(folder.strip()):
        raise ConfigError(
            f"imap.after_fetch: must be seen, delete or move:<folder>, got {action!r}"
        )
    return ImapConfig(
        host=host,
        port=r.number("port", 993 if ssl else 143, low=1, high=65535),
        ssl=ssl,
        starttls=starttls,
        username=r.text("username", address) or address,
        password_env=password_env,
        oauth2=_oauth2(oauth) if oauth else None,
        folder=r.text("folder", "INBOX") or "INBOX",
        after_fetch=verb,
        move_to=folder.strip(),
        batch_size=r.number("batch_size", 50, low=1, high=1000),
        timeout=float(r.number("timeout", 30, low=1, high=600)),
    )


def _smtp(r: _Reader) -> SmtpConfig:
    host = r.text("host")
    if not host:
        raise ConfigError("smtp.host: required (the SMTP server's name, like smtp.example.com)")
    ssl = r.flag("ssl", False)
    starttls = r.flag("starttls", not ssl)
    if ssl and starttls:
        raise ConfigError("smtp: choose ssl (port 465) or starttls (port 587), not both")
    username = r.text("username", "")
    password_env = r.env("password_env", required=False)
    if username and not password_env:
        raise ConfigError("smtp.password_env: required when smtp.username is set")
    return SmtpConfig(
        host=host,
        port=r.number("port", 465 if ssl else 587, low=1, high=65535),
        starttls=starttls,
        ssl=ssl,
        username=username,
        password_env=password_env,
        timeout=float(r.number("timeout", 30, low=1, high=600)),
    )


def _webhook(r: _Reader) -> WebhookConfig:
    provider = r.text("provider", choices=WEBHOOK_PROVIDERS)
    signing_key_env = r.env("signing_key_env", required=provider == "mailgun")
    basic_auth_env = r.env("basic_auth_env", required=provider in ("postmark", "sendgrid"))
    arns = tuple(str(a).strip() for a in r.items("sns_topic_arns") if str(a).strip())
    if provider == "ses" and not arns:
        raise ConfigError(
            "webhook.sns_topic_arns: list the SNS topic ARN(s) SES publishes to; "
            "messages from any other topic are refused"
        )
    return WebhookConfig(
        provider=provider,
        signing_key_env=signing_key_env,
        basic_auth_env=basic_auth_env,
        sns_topic_arns=arns,
    )


def _routing(r: _Reader) -> tuple[RoutingRule, ...]:
    rules = []
    for index, item in enumerate(r.items("routing")):
        rule = _Reader(item, f"routing[{index}]")
        address = rule.text("address").lower()
        if not _ADDRESS.match(address):
            raise ConfigError(f"routing[{index}].address: not an email address: {address!r}")
        group = rule.data.get("group")
        if isinstance(group, bool) or not isinstance(group, int) or group < 1:
            raise ConfigError(f"routing[{index}].group: must be a group id, got {group!r}")
        rules.append(RoutingRule(address=address, group_id=group))
    return tuple(rules)


_AUTHSERV_ID = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,252})$")


def _authserv_ids(r: _Reader) -> tuple[str, ...]:
    ids: list[str] = []
    for index, item in enumerate(r.items("trusted_authserv_ids")):
        value = item.strip().lower() if isinstance(item, str) else item
        if not isinstance(value, str) or not _AUTHSERV_ID.match(value):
            raise ConfigError(
                f"trusted_authserv_ids[{index}]: must be a server name as it appears first in "
                f"its Authentication-Results header (like mx.example.com), got {item!r}"
            )
        if value not in ids:
            ids.append(value)
    return tuple(ids)


def parse_email_config(data: Any, *, address: str) -> EmailAccountConfig:
    """Validate a config object; raises ConfigError naming the first bad field."""
    r = _Reader(data if data is not None else {}, "")
    address = (address or "").strip().lower()
    imap = r.obj("imap")
    smtp = r.obj("smtp")
    esp = r.text("esp", "")
    if esp and esp not in ESP_BACKENDS:
        raise ConfigError(f"esp: must be one of {', '.join(sorted(ESP_BACKENDS))}, got {esp!r}")
    if esp and smtp is not None:
        raise ConfigError("give smtp or esp for sending, not both")
    webhook = r.obj("webhook")
    config = EmailAccountConfig(
        address=address,
        imap=_imap(imap, address) if imap else None,
        smtp=_smtp(smtp) if smtp else None,
        esp=esp,
        esp_api_key_env=r.env("esp_api_key_env", required=False),
        webhook=_webhook(webhook) if webhook else None,
        ack_enabled=r.flag("ack_enabled", False),
        ack_subject=r.text("ack_subject", DEFAULT_ACK_SUBJECT) or DEFAULT_ACK_SUBJECT,
        ack_template=r.text("ack_template", DEFAULT_ACK_TEMPLATE) or DEFAULT_ACK_TEMPLATE,
        ack_rate_limit_per_hour=r.number("ack_rate_limit_per_hour", 3, low=0, high=1000),
        ack_requires_auth=r.flag("ack_requires_auth", True),
        trusted_authserv_ids=_authserv_ids(r),
        max_message_bytes=r.number(
            "max_message_bytes", settings.HELPDESK_MAX_INBOUND_BYTES, low=1024, high=2**31
        ),
        routing=_routing(r),
    )
    # Compile the templates now so a typo shows when the account is saved, not at 3 a.m.
    _template(config.ack_subject, "ack_subject")
    _template(config.ack_template, "ack_template")
    return config


def load_email_config(account: ChannelAccount) -> EmailAccountConfig:
    """The typed config of an email account; raises ConfigError naming the account."""
    try:
        return parse_email_config(account.config, address=account.address)
    except ConfigError as exc:
        raise ConfigError(f"email account {account.name!r}: {exc}") from exc

"""Small builders shared by the email channel tests: real RFC 5322 bytes and email accounts."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import Any

import channels_in.email.adapter  # noqa: F401  (registers the email normaliser and hooks)
from channels_in.models import ChannelAccount, ChannelKind, InboundMessage
from channels_in.services import inbound_process, inbound_store


def make_mail(
    *,
    sender: str = "Pat Customer <pat@customer.test>",
    to: str = "support@desk.test",
    cc: str = "",
    subject: str = "Order 1234 never arrived",
    body: str = "Hello, my order has not arrived after two weeks.",
    message_id: str | None = "<a1@customer.test>",
    in_reply_to: str = "",
    references: str = "",
    headers: dict[str, str] | None = None,
    html: str = "",
    inline_image: tuple[str, bytes] | None = None,
) -> bytes:
    """A message as a mail client writes it (EmailMessage, SMTP policy: CRLF line ends)."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    if message_id:
        msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    if html:
        msg.add_alternative(html, subtype="html")
        if inline_image is not None:
            cid, data = inline_image
            html_part = msg.get_payload()[1]
            html_part.add_related(
                data,
                maintype="image",
                subtype="png",
                cid=f"<{cid}>",
                filename="logo.png",
                disposition="inline",
            )
    return msg.as_bytes()


def subprocess_env() -> dict[str, str]:
    """Environment for a child process that must use this test run's database."""
    import os

    from django.db import connection

    db = connection.settings_dict
    host = db["HOST"] or "127.0.0.1"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "helpdesk.settings",
        # the child has no pytest in sys.modules: say it is a test run, or settings refuse
        # to start without a SECRET_KEY (as they must in production)
        "HELPDESK_TESTING": "1",
        "DATABASE_URL": f"postgres://{db['USER']}@localhost:{db['PORT'] or 5432}/{db['NAME']}",
    }
    if host.startswith("/"):  # a socket directory (the embedded server)
        env["DATABASE_HOST"] = host
    else:
        env["DATABASE_URL"] = env["DATABASE_URL"].replace("@localhost:", f"@{host}:")
        env.pop("DATABASE_HOST", None)
    return env


def email_account(
    *,
    name: str = "support",
    address: str = "support@desk.test",
    group: Any = None,
    config: dict[str, Any] | None = None,
) -> ChannelAccount:
    return ChannelAccount.objects.create(
        kind=ChannelKind.EMAIL, name=name, address=address, group=group, config=config or {}
    )


def ingest(account: ChannelAccount, raw: bytes) -> InboundMessage:
    """Store raw bytes and run the processing step right here (no worker)."""
    stored = inbound_store(account=account, external_id="", raw=raw, process=False)
    return inbound_process(inbound_id=stored.inbound.pk)


def mount_email_urls() -> Any:
    """An override_settings that mounts the email URLs when the project does not yet."""
    from django.test import override_settings
    from django.urls import NoReverseMatch, reverse

    try:
        reverse("channels_in:email:accounts")
        return override_settings()
    except NoReverseMatch:
        return override_settings(ROOT_URLCONF="tests.channels_in.email_urlconf")

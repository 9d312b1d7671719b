"""An email account's config: typed, defaults that are safe, and errors that name the field."""

from __future__ import annotations

from typing import Any

import pytest

from channels_in.email.config import ConfigError, load_email_config, parse_email_config
from channels_in.models import ChannelAccount, ChannelKind


def parse(data: Any) -> Any:
    return parse_email_config(data, address="Support@Desk.Test")


def test_it_reads_a_full_config() -> None:
    config = parse(
        {
            "imap": {
                "host": "imap.example.com",
                "password_env": "IMAP_PW",
                "after_fetch": "move:Done",
                "folder": "Support",
            },
            "smtp": {"host": "smtp.example.com", "username": "support", "password_env": "SMTP_PW"},
            "ack_enabled": True,
            "routing": [{"address": "Billing@Desk.Test", "group": 3}],
        }
    )
    assert config.address == "support@desk.test"
    imap = config.imap
    assert (imap.port, imap.ssl, imap.username, imap.after_fetch, imap.move_to) == (
        993,
        True,
        "support@desk.test",
        "move",
        "Done",
    )
    assert (config.smtp.port, config.smtp.starttls) == (587, True)
    assert config.group_for(["someone@x.test", "billing+2024@desk.test"]) == 3
    assert config.receives("SUPPORT+urgent@desk.test") and config.receives("billing@desk.test")
    assert not config.receives("sales@desk.test")


def test_defaults_keep_automatic_mail_off() -> None:
    config = parse({})
    assert config.imap is None and config.smtp is None and not config.ack_enabled
    # acknowledgements, once on, need an authenticated sender unless a mailbox says otherwise
    assert config.ack_requires_auth is True and config.trusted_authserv_ids == ()


def test_it_reads_the_acknowledgement_trust_options() -> None:
    config = parse(
        {"ack_requires_auth": False, "trusted_authserv_ids": ["MX1.Example.com", "mx2.example.com"]}
    )
    assert config.ack_requires_auth is False
    assert config.trusted_authserv_ids == ("mx1.example.com", "mx2.example.com")


@pytest.mark.parametrize(
    "data, message",
    [
        ({"imap": {"password_env": "X"}}, "imap.host: required"),
        (
            {"imap": {"host": "h", "port": "993", "password_env": "X"}},
            "imap.port: must be a whole number from 1 to 65535, got '993'",
        ),
        ({"imap": {"host": "h"}}, "imap: needs password_env (a password) or oauth2"),
        (
            {"imap": {"host": "h", "password_env": "hunter2 is my password"}},
            "imap.password_env: must name an environment variable",
        ),
        (
            {"imap": {"host": "h", "password_env": "X", "after_fetch": "archive"}},
            "imap.after_fetch: must be seen, delete or move:<folder>, got 'archive'",
        ),
        (
            {
                "imap": {
                    "host": "h",
                    "oauth2": {
                        "provider": "yahoo",
                        "client_id": "c",
                        "client_secret_env": "S",
                        "refresh_token_env": "R",
                    },
                }
            },
            "imap.oauth2.provider: must be one of google, microsoft, got 'yahoo'",
        ),
        (
            {"smtp": {"host": "h", "username": "u"}},
            "smtp.password_env: required when smtp.username",
        ),
        ({"smtp": {"host": "h"}, "esp": "mailgun"}, "give smtp or esp for sending, not both"),
        ({"webhook": {"provider": "ses"}}, "webhook.sns_topic_arns: list the SNS topic ARN(s)"),
        ({"webhook": {"provider": "mailgun"}}, "webhook.signing_key_env: required"),
        (
            {"routing": [{"address": "billing", "group": 2}]},
            "routing[0].address: not an email address: 'billing'",
        ),
        ({"ack_template": "Hello {% if %}"}, "ack_template: template error"),
        ({"ack_enabled": "yes"}, "ack_enabled: must be true or false, got 'yes'"),
        ({"ack_requires_auth": "no"}, "ack_requires_auth: must be true or false, got 'no'"),
        ({"trusted_authserv_ids": "mx.example.com"}, "trusted_authserv_ids: must be a list"),
        (
            {"trusted_authserv_ids": ["mx.example.com; dkim=pass"]},
            "trusted_authserv_ids[0]: must be a server name",
        ),
    ],
)
def test_a_bad_config_names_the_field_and_the_fix(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse(data)
    assert message in str(raised.value)


@pytest.mark.django_db
def test_the_account_loader_names_the_account() -> None:
    account = ChannelAccount.objects.create(
        kind=ChannelKind.EMAIL, name="sales", address="sales@desk.test", config={"imap": {}}
    )
    with pytest.raises(ConfigError, match=r"email account 'sales': imap.host: required"):
        load_email_config(account)


def test_the_acknowledgement_renders_from_its_template() -> None:
    config = parse(
        {
            "ack_subject": "Re: {{ ticket.subject }}",
            "ack_template": "Hi {{ name }}, ticket #{{ ticket.number }}.",
        }
    )
    subject, text = config.render_ack(
        {"ticket": {"subject": "Help <now>", "number": 7}, "name": "Pat & Co"}
    )
    assert subject == "Re: Help <now>" and text == "Hi Pat & Co, ticket #7."

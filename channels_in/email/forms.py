"""The desk form an admin fills in to add a mailbox: typed fields, turned into the account's
`config` JSON and validated by the same parser polling and sending use, so a form that saves
is a config that loads. Secrets are asked for by environment-variable name, never by value."""

from __future__ import annotations

from typing import Any

from django import forms

from tickets.models import Group

from ..models import ChannelAccount
from .config import ConfigError, parse_email_config

SECURITY = [
    ("ssl", "TLS (implicit, e.g. 993 / 465)"),
    ("starttls", "STARTTLS (e.g. 143 / 587)"),
    ("none", "None (loopback or a trusted network only)"),
]
AFTER_FETCH = [
    ("seen", "Mark as read"),
    ("move", "Move to a folder"),
    ("delete", "Delete"),
]


def env_help(example: str) -> str:
    return f"The name of the environment variable holding it (like {example})."


class MailboxForm(forms.Form):
    name = forms.SlugField(max_length=64, help_text="A short id, used in webhook URLs.")
    address = forms.EmailField(max_length=320, help_text="Replies are sent from this address.")
    group = forms.ModelChoiceField(
        queryset=Group.objects.order_by("name"),
        required=False,
        help_text="New tickets from this mailbox go to this group.",
    )

    imap_host = forms.CharField(
        label="IMAP server", required=False, help_text="Leave empty if mail arrives otherwise."
    )
    imap_port = forms.IntegerField(label="IMAP port", required=False, min_value=1, max_value=65535)
    imap_security = forms.ChoiceField(label="IMAP security", choices=SECURITY, initial="ssl")
    imap_username = forms.CharField(
        label="IMAP user", required=False, help_text="Defaults to the address."
    )
    imap_password_env = forms.CharField(
        label="IMAP password variable", required=False, help_text=env_help("SUPPORT_IMAP_PASSWORD")
    )
    imap_folder = forms.CharField(label="Folder", required=False, initial="INBOX")
    after_fetch = forms.ChoiceField(label="After fetching", choices=AFTER_FETCH, initial="seen")
    move_to = forms.CharField(label="Move to folder", required=False, initial="Processed")

    smtp_host = forms.CharField(
        label="SMTP server", required=False, help_text="Leave empty to send by the site default."
    )
    smtp_port = forms.IntegerField(label="SMTP port", required=False, min_value=1, max_value=65535)
    smtp_security = forms.ChoiceField(label="SMTP security", choices=SECURITY, initial="starttls")
    smtp_username = forms.CharField(label="SMTP user", required=False)
    smtp_password_env = forms.CharField(
        label="SMTP password variable", required=False, help_text=env_help("SUPPORT_SMTP_PASSWORD")
    )

    ack_enabled = forms.BooleanField(
        label="Acknowledge new tickets", required=False, help_text="An automatic receipt mail."
    )
    ack_requires_auth = forms.BooleanField(
        label="Acknowledge only authenticated senders",
        required=False,
        initial=True,
        help_text=(
            "Only senders who pass DMARC, DKIM or SPF (as checked by a trusted server below) or "
            "are known contacts get a receipt, so forged senders are never mailed. Turn off "
            "only if your mail server adds no Authentication-Results header."
        ),
    )
    trusted_authserv_ids = forms.CharField(
        label="Trusted authentication servers",
        required=False,
        help_text=(
            "The name your receiving server writes first in its Authentication-Results header "
            "(like mx.example.com); several separated by commas. Results from any other name "
            "are ignored: senders can forge them."
        ),
    )

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"]
        if ChannelAccount.objects.filter(name=name).exists():
            raise forms.ValidationError("An account with this name exists already.")
        return name

    def clean(self) -> dict[str, Any]:
        data = super().clean() or self.cleaned_data
        if self.errors:
            return data
        try:
            parse_email_config(self.config(), address=data["address"])
        except ConfigError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return data

    def config(self) -> dict[str, Any]:
        """The `ChannelAccount.config` these fields describe (only the keys given)."""
        data = self.cleaned_data
        config: dict[str, Any] = {
            "ack_enabled": bool(data.get("ack_enabled")),
            "ack_requires_auth": bool(data.get("ack_requires_auth")),
        }
        trusted = [
            item.strip()
            for item in (data.get("trusted_authserv_ids") or "").replace(" ", ",").split(",")
            if item.strip()
        ]
        if trusted:
            config["trusted_authserv_ids"] = trusted
        if data.get("imap_host"):
            imap: dict[str, Any] = {
                "host": data["imap_host"].strip(),
                "ssl": data["imap_security"] == "ssl",
                "starttls": data["imap_security"] == "starttls",
                "password_env": (data.get("imap_password_env") or "").strip(),
                "folder": (data.get("imap_folder") or "").strip() or "INBOX",
            }
            if data.get("imap_port"):
                imap["port"] = data["imap_port"]
            if data.get("imap_username"):
                imap["username"] = data["imap_username"].strip()
            action = data["after_fetch"]
            imap["after_fetch"] = (
                f"move:{(data.get('move_to') or '').strip()}" if (action == "move") else action
            )
            config["imap"] = imap
        if data.get("smtp_host"):
            smtp: dict[str, Any] = {
                "host": data["smtp_host"].strip(),
                "ssl": data["smtp_security"] == "ssl",
                "starttls": data["smtp_security"] == "starttls",
            }
            if data.get("smtp_port"):
                smtp["port"] = data["smtp_port"]
            if data.get("smtp_username"):
                smtp["username"] = data["smtp_username"].strip()
            if data.get("smtp_password_env"):
                smtp["password_env"] = data["smtp_password_env"].strip()
            config["smtp"] = smtp
        return config

    def unsaved_account(self) -> ChannelAccount:
        """The account as it would be saved, for a connection test before saving."""
        data = self.cleaned_data
        return ChannelAccount(
            kind="email",
            name=data["name"],
            address=data["address"].lower(),
            group=data.get("group"),
            config=self.config(),
        )

"""State changes of the email channel's own rows (accounts); the ingest and delivery
pipelines live in `channels_in.services`."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from tickets.models import Group

from ..models import ChannelAccount, ChannelKind
from .config import parse_email_config


@transaction.atomic
def email_account_create(
    *, name: str, address: str, group: Group | None, config: dict[str, Any]
) -> ChannelAccount:
    """Add a mailbox. Raises ConfigError (naming the field) when `config` would not load, so
    no account is ever saved that polling or sending would refuse."""
    address = address.strip().lower()
    parse_email_config(config, address=address)
    return ChannelAccount.objects.create(
        kind=ChannelKind.EMAIL, name=name, address=address, group=group, config=config
    )

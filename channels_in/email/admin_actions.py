"""Admin action for ChannelAccountAdmin: `actions = [check_mailboxes]`."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from ..models import ChannelAccount, ChannelKind
from .check import check_mailbox


@admin.action(description="Test mailbox connection (IMAP and SMTP)")
def check_mailboxes(
    modeladmin: Any, request: HttpRequest, queryset: QuerySet[ChannelAccount]
) -> None:
    for account in queryset:
        if account.kind != ChannelKind.EMAIL:
            modeladmin.message_user(
                request, f"{account.name}: not an email account", level=messages.WARNING
            )
            continue
        result = check_mailbox(account)
        modeladmin.message_user(
            request,
            f"{account.name}: {result.message}",
            level=messages.SUCCESS if result.ok else messages.ERROR,
        )

"""The Django admin for the channel edges: accounts to configure, and the raw inbound and
outbound rows to inspect (read-only) and push through the pipeline again when they failed."""

from __future__ import annotations

from functools import partial
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from .email.admin_actions import check_mailboxes
from .models import (
    ChannelAccount,
    ChannelKind,
    ChatConversation,
    ChatLine,
    InboundMessage,
    MailboxState,
    OutboundDelivery,
)
from .services import inbound_max_attempts, inbound_queue
from .tasks import deliver_outbound

PREVIEW_BYTES = 20_000


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by the pipeline: shown, never added, edited or deleted by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _may_requeue(request: HttpRequest, model: type[Any]) -> bool:
    opts = model._meta
    return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")


class ChannelAccountForm(forms.ModelForm):
    """An email account's config must load (the same parser polling and sending use)."""

    class Meta:
        model = ChannelAccount
        fields = ("kind", "name", "address", "group", "config", "active", "created_at")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or self.cleaned_data
        if data.get("kind") == ChannelKind.EMAIL and "config" in data:
            from .email.config import ConfigError, parse_email_config

            try:
                parse_email_config(data["config"], address=data.get("address") or "")
            except ConfigError as exc:
                self.add_error("config", str(exc))
        return data


@admin.register(ChannelAccount)
class ChannelAccountAdmin(admin.ModelAdmin):
    form = ChannelAccountForm
    list_display = ("name", "kind", "address", "group", "active", "created_at")
    list_filter = ("kind", "active")
    list_select_related = ("group",)
    search_fields = ("name", "address")
    actions = [check_mailboxes]


@admin.register(InboundMessage)
class InboundMessageAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "account",
        "short_external_id",
        "status",
        "short_reason",
        "attempts",
        "received_at",
        "ticket_id",
    )
    list_filter = ("status", "account")
    list_select_related = ("account",)
    search_fields = ("=external_id", "=raw_sha256")
    fields = (
        "account",
        "external_id",
        "content_type",
        "status",
        "reason",
        "attempts",
        "ticket_id",
        "message_id",
        "received_at",
        "queued_at",
        "claimed_at",
        "processed_at",
        "raw_sha256",
        "raw_preview",
    )
    readonly_fields = ("raw_preview",)
    actions = ["reprocess"]
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[InboundMessage]:
        # The raw payload can be megabytes; only the detail page reads it.
        return super().get_queryset(request).defer("raw")

    @admin.display(description="External id")
    def short_external_id(self, obj: InboundMessage) -> str:
        return obj.external_id if len(obj.external_id) <= 60 else obj.external_id[:57] + "..."

    @admin.display(description="Reason")
    def short_reason(self, obj: InboundMessage) -> str:
        return obj.reason if len(obj.reason) <= 80 else obj.reason[:77] + "..."

    @admin.display(description="Raw payload (start)")
    def raw_preview(self, obj: InboundMessage) -> str:
        return bytes(obj.raw[:PREVIEW_BYTES]).decode("utf-8", errors="replace")

    def has_reprocess_permission(self, request: HttpRequest) -> bool:
        return _may_requeue(request, InboundMessage)

    @admin.action(description="Reprocess selected (failed ones)", permissions=["reprocess"])
    def reprocess(self, request: HttpRequest, queryset: QuerySet[InboundMessage]) -> None:
        failed = list(queryset.filter(status=InboundMessage.Status.FAILED))
        with transaction.atomic():
            # a row given up after its attempts would be refused at once: a person's retry
            # starts its count afresh
            InboundMessage.objects.filter(
                pk__in=[row.pk for row in failed], attempts__gte=inbound_max_attempts()
            ).update(attempts=0)
            for inbound in failed:
                inbound_queue(inbound=inbound)
        skipped = queryset.count() - len(failed)
        self.message_user(
            request,
            f"Queued {len(failed)} failed message(s) for processing"
            + (f"; skipped {skipped} that had not failed." if skipped else "."),
            messages.SUCCESS if failed else messages.WARNING,
        )


@admin.register(OutboundDelivery)
class OutboundDeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "message",
        "account",
        "channel",
        "recipient",
        "status",
        "attempts",
        "short_error",
        "created_at",
        "sent_at",
    )
    list_filter = ("status", "channel")
    list_select_related = ("message", "account")
    search_fields = ("=recipient", "=provider_id", "=idempotency_key")
    actions = ["retry_failed"]
    show_full_result_count = False

    @admin.display(description="Error")
    def short_error(self, obj: OutboundDelivery) -> str:
        return obj.error if len(obj.error) <= 80 else obj.error[:77] + "..."

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return _may_requeue(request, OutboundDelivery)

    @admin.action(description="Retry failed", permissions=["retry"])
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[OutboundDelivery]) -> None:
        with transaction.atomic():
            failed = list(
                OutboundDelivery.objects.select_for_update()
                .filter(pk__in=queryset.values("pk"), status=OutboundDelivery.Status.FAILED)
                .values_list("id", flat=True)
            )
            OutboundDelivery.objects.filter(pk__in=failed).update(
                status=OutboundDelivery.Status.QUEUED, error="", updated_at=timezone.now()
            )
            for delivery_id in failed:
                transaction.on_commit(partial(deliver_outbound.delay, delivery_id))
        self.message_user(
            request,
            f"Queued {len(failed)} failed {'delivery' if len(failed) == 1 else 'deliveries'}"
            " to send again.",
            messages.SUCCESS if failed else messages.WARNING,
        )


@admin.register(MailboxState)
class MailboxStateAdmin(ReadOnlyAdmin):
    list_display = (
        "account",
        "folder",
        "uidvalidity",
        "last_uid",
        "failing_uid",
        "failing_count",
        "last_polled_at",
        "last_error_at",
    )
    list_select_related = ("account",)
    list_filter = ("account",)


@admin.register(ChatConversation)
class ChatConversationAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "account",
        "visitor_name",
        "visitor_email",
        "status",
        "agent",
        "ticket",
        "last_activity_at",
    )
    list_filter = ("status", "account")
    list_select_related = ("account", "agent", "ticket")
    search_fields = ("=visitor_id", "visitor_name", "visitor_email", "=ticket__number")
    show_full_result_count = False


@admin.register(ChatLine)
class ChatLineAdmin(ReadOnlyAdmin):
    list_display = ("conversation", "seq", "kind", "message", "created_at")
    list_filter = ("kind",)
    list_select_related = ("conversation", "message")
    search_fields = ("=conversation__id",)
    show_full_result_count = False

"""The Django admin for the core rows: a back office for admins, not the agents' desk.

Changelists join what they display (`list_select_related`) so a page costs the same number of
queries whatever its rows; big tables skip the full-table count.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import (
    AgentProfile,
    Attachment,
    Contact,
    Group,
    Identity,
    Macro,
    Message,
    Organisation,
    Participant,
    Tag,
    Ticket,
    TicketEvent,
)
from .sla_admin import SLA_COLUMNS  # noqa: F401  (registers the SLA admin too)


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ("name", "domains", "created_at")
    search_fields = ("name", "domains")


class IdentityInline(admin.TabularInline):
    model = Identity
    extra = 0
    fields = ("kind", "value", "verified", "created_at")
    readonly_fields = ("created_at",)


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ("__str__", "organisation", "user", "merged_into", "created_at")
    list_select_related = ("organisation", "user", "merged_into")
    search_fields = ("name", "identities__value")
    raw_id_fields = ("user", "organisation", "merged_into")
    inlines = [IdentityInline]
    show_full_result_count = False


@admin.register(Identity)
class IdentityAdmin(admin.ModelAdmin):
    list_display = ("kind", "value", "contact", "verified", "created_at")
    list_filter = ("kind", "verified")
    list_select_related = ("contact",)
    search_fields = ("value",)
    raw_id_fields = ("contact",)
    show_full_result_count = False


@admin.register(Group)
class GroupAdmin(admin.ModelAdmin):
    list_display = ("name", "description")
    search_fields = ("name",)
    filter_horizontal = ("members",)


@admin.register(AgentProfile)
class AgentProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "display_name")
    list_select_related = ("user",)
    search_fields = ("display_name", "user__username", "user__email")
    raw_id_fields = ("user",)


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("name",)
    search_fields = ("name",)


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = (
        "number",
        "subject",
        "status",
        "priority",
        "channel",
        "group",
        "assignee",
        "updated_at",
    )
    list_filter = ("status", "priority", "channel", "group")
    list_select_related = ("group", "assignee")
    search_fields = ("=number", "subject", "=reply_token")
    raw_id_fields = ("contact", "organisation", "merged_into", "assignee")
    readonly_fields = ("number", "reply_token", "message_count", *SLA_COLUMNS)
    filter_horizontal = ("tags",)
    show_full_result_count = False

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = super().get_fields(request, obj)
        if obj is None:  # the database assigns these on insert: nothing to show yet
            fields = [f for f in fields if f not in ("number", "reply_token")]
        return fields


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("id", "ticket", "kind", "channel", "sender", "is_automatic", "created_at")
    list_filter = ("kind", "channel", "is_automatic")
    list_select_related = ("ticket",)
    search_fields = ("=ticket__number", "sender", "external_id")
    raw_id_fields = ("ticket", "author_contact", "author_user")
    show_full_result_count = False


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):
    list_display = ("filename", "message", "content_type", "size", "inline", "created_at")
    list_select_related = ("message",)
    search_fields = ("filename", "sha256")
    raw_id_fields = ("message",)
    show_full_result_count = False


@admin.register(TicketEvent)
class TicketEventAdmin(admin.ModelAdmin):
    """The audit trail is append-only: it can be read here, never written or removed."""

    list_display = ("ticket", "kind", "actor", "actor_contact", "old", "new", "created_at")
    list_filter = ("kind",)
    list_select_related = ("ticket", "actor", "actor_contact")
    search_fields = ("=ticket__number",)
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Macro)
class MacroAdmin(admin.ModelAdmin):
    list_display = ("name", "set_status", "set_priority", "add_tags", "active")
    list_filter = ("active",)
    search_fields = ("name", "body")


@admin.register(Participant)
class ParticipantAdmin(admin.ModelAdmin):
    list_display = ("ticket", "contact", "created_at")
    list_select_related = ("ticket", "contact")
    search_fields = ("=ticket__number", "contact__name")
    raw_id_fields = ("ticket", "contact")
    show_full_result_count = False

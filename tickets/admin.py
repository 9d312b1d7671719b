"""The Django admin for the core rows: a back office for admins, not the agents' desk.

Changelists join what they display (`list_select_related`) so a page costs the same number of
queries whatever its rows; big tables skip the full-table count.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpRequest

from . import services
from .models import (
    AgentProfile,
    Attachment,
    BulkJob,
    Contact,
    Group,
    Identity,
    Macro,
    Message,
    Notification,
    NotificationSetting,
    Organisation,
    Participant,
    SavedView,
    SearchDocument,
    Tag,
    Ticket,
    TicketEvent,
    TicketFollower,
    TicketImport,
)
from .sla_admin import SLA_COLUMNS  # noqa: F401  (registers the SLA admin too)


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ("name", "domains", "created_at")
    search_fields = ("name", "domains")


class IdentityInline(admin.TabularInline):
    """Shown, not edited: identities are claimed through `identity_add` (the desk's contact
    page), which keeps one number one person across phone and WhatsApp."""

    model = Identity
    extra = 0
    fields = ("kind", "value", "verified", "created_at")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    """Name, organisation and notes change through `contact_update`; a merge or a portal
    login only through their services (the desk's merge page), so they are read-only."""

    list_display = ("__str__", "organisation", "user", "merged_into", "created_at")
    list_select_related = ("organisation", "user", "merged_into")
    search_fields = ("name", "identities__value")
    raw_id_fields = ("organisation",)
    readonly_fields = ("user", "merged_into", "created_at", "updated_at")
    inlines = [IdentityInline]
    show_full_result_count = False

    def save_model(self, request: HttpRequest, obj: Contact, form: Any, change: bool) -> None:
        if not change:
            super().save_model(request, obj, form, change)
            return
        data = form.cleaned_data
        services.contact_update(
            contact=Contact.objects.get(pk=obj.pk),
            name=data["name"],
            organisation=data["organisation"],
            notes=data["notes"],
            actor=request.user,
        )


@admin.register(Identity)
class IdentityAdmin(admin.ModelAdmin):
    """Read-only, like the inline: identities change through the services."""

    list_display = ("kind", "value", "contact", "verified", "created_at")
    list_filter = ("kind", "verified")
    list_select_related = ("contact",)
    search_fields = ("value",)
    raw_id_fields = ("contact",)
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


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


# Fields the Ticket admin may change, each through its service (so each writes its event).
TICKET_EDITABLE = ("subject", "status", "priority", "contact", "group", "assignee", "tags")


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    """Tickets open through the desk, the portal, the API or a channel (with their first
    message), so none is added here. An edit goes through the services, field by field, so
    the event log records it like any other change; everything else is read-only."""

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
    raw_id_fields = ("contact", "assignee")
    filter_horizontal = ("tags",)
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [
            f.name
            for f in [*Ticket._meta.fields, *Ticket._meta.many_to_many]
            if f.name not in TICKET_EDITABLE and f.name != "id"
        ]

    def save_model(self, request: HttpRequest, obj: Ticket, form: Any, change: bool) -> None:
        data, actor = form.cleaned_data, request.user
        try:
            with transaction.atomic():
                ticket = Ticket.objects.get(pk=obj.pk)
                changed = set(form.changed_data)
                if "contact" in changed:
                    ticket = services.ticket_set_contact(
                        ticket=ticket, contact=data["contact"], actor=actor
                    )
                if "subject" in changed:
                    ticket = services.ticket_set_subject(
                        ticket=ticket, subject=data["subject"], actor=actor
                    )
                if "group" in changed:
                    ticket = services.ticket_set_group(
                        ticket=ticket, group=data["group"], actor=actor
                    )
                if "assignee" in changed:
                    ticket = services.ticket_assign(
                        ticket=ticket, agent=data["assignee"], actor=actor
                    )
                if "priority" in changed:
                    ticket = services.ticket_set_priority(
                        ticket=ticket, priority=int(data["priority"]), actor=actor
                    )
                if "status" in changed:
                    ticket = services.ticket_set_status(
                        ticket=ticket, status=data["status"], actor=actor
                    )
                if "tags" in changed:
                    services.ticket_set_tags(
                        ticket=ticket, names=[t.name for t in data["tags"]], actor=actor
                    )
        except services.ServiceError as exc:
            self.message_user(request, f"Not saved: {exc}", level=messages.ERROR)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """Tags were set by `save_model` through the service; nothing else is related."""


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    """Messages are part of the record: readable here, changed only by the services."""

    list_display = ("id", "ticket", "kind", "channel", "sender", "is_automatic", "created_at")
    list_filter = ("kind", "channel", "is_automatic")
    list_select_related = ("ticket",)
    search_fields = ("=ticket__number", "sender", "external_id")
    raw_id_fields = ("ticket", "author_contact", "author_user")
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):
    list_display = ("filename", "message", "content_type", "size", "inline", "created_at")
    list_select_related = ("message",)
    search_fields = ("filename", "sha256")
    raw_id_fields = ("message",)
    show_full_result_count = False


@admin.register(TicketEvent)
class TicketEventAdmin(admin.ModelAdmin):
    """The event log is append-only: it can be read here, never written or removed."""

    list_display = (
        "ticket",
        "kind",
        "actor_kind",
        "actor",
        "actor_contact",
        "status",
        "priority",
        "group",
        "assignee",
        "occurred_at",
        "recorded_at",
    )
    list_filter = ("kind", "actor_kind")
    list_select_related = ("ticket", "actor", "actor_contact", "group", "assignee")
    search_fields = ("=ticket__number", "=dedupe_key")
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


# Calendar admin lives beside its models; importing it registers it.
from . import calendar_admin  # noqa: E402, F401


@admin.register(SavedView)
class SavedViewAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "group", "sort", "position", "created_at")
    list_filter = ("group",)
    list_select_related = ("owner", "group")
    search_fields = ("name", "owner__email", "owner__username")
    raw_id_fields = ("owner",)


@admin.register(SearchDocument)
class SearchDocumentAdmin(admin.ModelAdmin):
    """Read-only: documents are rebuilt from their tickets (`rebuild_search_index`)."""

    list_display = ("ticket", "refreshed_at")
    list_select_related = ("ticket",)
    search_fields = ("=ticket__number",)
    fields = ("ticket", "people", "refreshed_at")
    readonly_fields = fields
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(TicketImport)
class TicketImportAdmin(admin.ModelAdmin):
    """Read-only: where each imported ticket came from (`import_history` writes these)."""

    list_display = ("external_id", "ticket", "imported_at")
    list_select_related = ("ticket",)
    search_fields = ("=external_id", "=ticket__number")
    fields = ("external_id", "ticket", "imported_at")
    readonly_fields = fields
    show_full_result_count = False


@admin.register(BulkJob)
class BulkJobAdmin(admin.ModelAdmin):
    """Read-only: jobs are started from the queue and run by the `bulk` worker."""

    list_display = ("id", "action", "actor", "state", "total", "done", "failed", "created_at")
    list_filter = ("action", "state")
    list_select_related = ("actor",)
    search_fields = ("actor__email", "actor__username")
    fields = (
        "actor",
        "action",
        "params",
        "state",
        "total",
        "cursor",
        "done",
        "failed",
        "errors",
        "created_at",
        "finished_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


from .automation import admin as automation_admin  # noqa: E402, F401


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("recipient", "kind", "title", "created_at", "read_at", "emailed_at")
    list_filter = ("kind",)
    search_fields = ("title", "recipient__username")
    raw_id_fields = ("recipient", "ticket", "actor")
    readonly_fields = ("created_at", "dedupe_key")


@admin.register(NotificationSetting)
class NotificationSettingAdmin(admin.ModelAdmin):
    list_display = ("user", "kind", "in_app", "email")
    list_filter = ("kind",)
    raw_id_fields = ("user",)


@admin.register(TicketFollower)
class TicketFollowerAdmin(admin.ModelAdmin):
    list_display = ("ticket", "user", "created_at")
    raw_id_fields = ("ticket", "user")

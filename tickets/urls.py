"""The agent desk, mounted at /desk/."""

from __future__ import annotations

from django.urls import path

from .views import automation, bulk, calendars, desk, manual, sla_admin, together

app_name = "desk"
urlpatterns = [
    path("", desk.queue, name="queue"),
    path("views/", desk.saved_view_save, name="saved_view_save"),
    path("views/<int:view_id>/delete/", desk.saved_view_delete, name="saved_view_delete"),
    path("bulk/", bulk.bulk_start, name="bulk"),
    path("bulk/<int:job_id>/", bulk.bulk_job, name="bulk_job"),
    path("tickets/new/", manual.ticket_new, name="ticket_new"),
    path("tickets/<int:number>/", desk.ticket, name="ticket"),
    path("tickets/<int:number>/live/", desk.ticket_live, name="ticket_live"),
    path("tickets/<int:number>/reply/", desk.ticket_reply, name="reply"),
    path("tickets/<int:number>/note/", desk.ticket_note, name="note"),
    path("tickets/<int:number>/macro/", desk.ticket_macro, name="macro"),
    path("tickets/<int:number>/merge/", desk.ticket_merge, name="merge"),
    path(
        "tickets/<int:number>/messages/<int:message_id>/split/",
        desk.ticket_split,
        name="split",
    ),
    *[
        path(
            f"tickets/<int:number>/{field}/",
            desk.ticket_update,
            {"field": field},
            name=f"set_{field}",
        )
        for field in desk.FIELD_UPDATES
    ],
    path("sla/", sla_admin.policies, name="sla_policies"),
    path("sla/new/", sla_admin.policy_new, name="sla_policy_new"),
    path("sla/<int:pk>/", sla_admin.policy_edit, name="sla_policy_edit"),
    path("sla/<int:pk>/move/", sla_admin.policy_move, name="sla_policy_move"),
    path("sla/<int:pk>/delete/", sla_admin.policy_delete, name="sla_policy_delete"),
    path("tickets/<int:number>/follow/", together.ticket_follow, name="follow"),
    path("tickets/<int:number>/mentions/", together.mention_candidates, name="mentions"),
    path("notifications/", together.notification_list, name="notifications"),
    path("notifications/count/", together.notification_count, name="notification_count"),
    path("notifications/read/", together.notification_read_all, name="notifications_read"),
    path(
        "notifications/<int:notification_id>/open/",
        together.notification_open,
        name="notification_open",
    ),
    path(
        "notifications/settings/",
        together.notification_settings,
        name="notification_settings",
    ),
    path("contacts/<int:contact_id>/", desk.contact, name="contact"),
    path(
        "contacts/<int:contact_id>/identities/",
        desk.contact_identity_add,
        name="contact_identity_add",
    ),
    path(
        "contacts/<int:contact_id>/merge/search/",
        desk.contact_merge_search,
        name="contact_merge_search",
    ),
    path("contacts/<int:contact_id>/merge/", desk.contact_merge, name="contact_merge"),
    path("automation/", automation.automation_list, name="automation"),
    path("automation/new/", automation.automation_new, name="automation_new"),
    path("automation/<int:rule_id>/", automation.automation_edit, name="automation_edit"),
    path(
        "automation/<int:rule_id>/toggle/", automation.automation_toggle, name="automation_toggle"
    ),
    path("automation/<int:rule_id>/move/", automation.automation_move, name="automation_move"),
    path(
        "automation/<int:rule_id>/dry-run/",
        automation.automation_dry_run,
        name="automation_dry_run",
    ),
    path("calendars/", calendars.calendar_list, name="calendars"),
    path("calendars/new/", calendars.calendar_new, name="calendar_new"),
    path("calendars/<int:calendar_id>/", calendars.calendar_edit, name="calendar_edit"),
    path(
        "calendars/<int:calendar_id>/preview/",
        calendars.calendar_preview,
        name="calendar_preview",
    ),
    path("calendars/<int:calendar_id>/import/", calendars.calendar_import, name="calendar_import"),
    path("calendars/<int:calendar_id>/preset/", calendars.calendar_preset, name="calendar_preset"),
    path(
        "calendars/<int:calendar_id>/default/",
        calendars.calendar_default,
        name="calendar_default",
    ),
    path("calendars/<int:calendar_id>/delete/", calendars.calendar_delete, name="calendar_delete"),
    path("attachments/<int:attachment_id>/", desk.attachment, name="attachment"),
    path(
        "attachments/<int:attachment_id>/inline/",
        desk.attachment_inline,
        name="attachment-inline",
    ),
]

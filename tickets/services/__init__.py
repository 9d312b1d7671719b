"""Every change to the core domain: one function per use case, one transaction each.

Each change writes its TicketEvent in the same transaction as the change, and announces itself
after commit (`tickets.events.ticket_changed`) for live screens and automation.

The functions live in modules by subject; this package re-exports them all, so callers keep
writing `from tickets import services` / `from tickets.services import ticket_reply`.
"""

from __future__ import annotations

from .bulk import bulk_job_run_batch, bulk_job_start
from .calls import call_log
from .common import ServiceError, announcements_off
from .contacts import (
    contact_link_user,
    contact_resolve,
    contact_update,
    identity_add,
    ticket_add_reply_address,
)
from .delivery import delivery_record_event
from .history import actor_kind_of, event_record, event_record_once
from .imports import ImportRefused, ImportResult, ticket_import
from .lifecycle import (
    ticket_assign,
    ticket_create,
    ticket_set_contact,
    ticket_set_group,
    ticket_set_priority,
    ticket_set_status,
    ticket_set_subject,
    ticket_set_tags,
)
from .macros import macro_apply
from .merge import contact_merge, ticket_merge
from .messages import (
    message_ingest,
    message_link_inline_images,
    ticket_auto_message,
    ticket_note,
    ticket_reply,
)
from .notifications import (
    notification_mark_read,
    notification_settings_update,
    notify_sla_warning,
    ticket_follow,
    ticket_unfollow,
)
from .split import ticket_split

__all__ = [
    "ImportRefused",
    "ImportResult",
    "ServiceError",
    "announcements_off",
    "actor_kind_of",
    "bulk_job_run_batch",
    "bulk_job_start",
    "call_log",
    "contact_link_user",
    "contact_merge",
    "contact_resolve",
    "contact_update",
    "delivery_record_event",
    "event_record",
    "event_record_once",
    "identity_add",
    "ticket_add_reply_address",
    "macro_apply",
    "message_ingest",
    "message_link_inline_images",
    "notification_mark_read",
    "notification_settings_update",
    "notify_sla_warning",
    "ticket_follow",
    "ticket_unfollow",
    "ticket_assign",
    "ticket_auto_message",
    "ticket_create",
    "ticket_import",
    "ticket_merge",
    "ticket_note",
    "ticket_reply",
    "ticket_set_contact",
    "ticket_set_group",
    "ticket_set_priority",
    "ticket_set_status",
    "ticket_set_subject",
    "ticket_set_tags",
    "ticket_split",
]

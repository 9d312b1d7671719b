"""Notifications: who hears about what happened on a ticket, in the bell and by email.

The rules read the event log. `event_record` hands each newly written event of a kind that
may notify to `notifications_for_event` after its transaction commits (a few indexed reads
and one insert; the email goes out later in Celery). Each rule names its recipients; then
the same filter applies to all: never the person who acted, only active agents who may see
the ticket (the access gate's rules, as a filter on users), and only those whose settings
want it. Running a cause twice notifies nobody twice (unique per recipient and cause).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from ..models import (
    Message,
    Notification,
    NotificationKind,
    NotificationSetting,
    Ticket,
    TicketEvent,
    TicketFollower,
)
from ..notification_models import NOTIFICATION_DEFAULTS
from ..roles import Role
from .common import ServiceError

log = logging.getLogger(__name__)

# the event kinds a rule listens to: anything else is not even looked at after commit
NOTIFYING_EVENTS = frozenset(
    {
        TicketEvent.Kind.CREATED,
        TicketEvent.Kind.ASSIGNEE,
        TicketEvent.Kind.GROUP,
        TicketEvent.Kind.MESSAGE,
        TicketEvent.Kind.NOTE,
        TicketEvent.Kind.DELIVERY,
    }
)


@dataclass(frozen=True)
class Cause:
    kind: str
    recipients: set[int]
    title: str
    body: str = ""


def ticket_audience(ticket: Ticket) -> QuerySet[Any]:
    """Active agents who may see this ticket: supervisors and admins, its group's members,
    its assignee (the rules of `tickets.access.visible_tickets`, seen from the users' side)."""
    agents_by_role = Q(groups__name=Role.AGENT.value) & (
        Q(pk=ticket.assignee_id or 0)
        | (Q(helpdesk_groups=ticket.group_id) if ticket.group_id else Q(pk__in=[]))
    )
    return (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(
            Q(is_superuser=True)
            | Q(groups__name__in=[Role.ADMIN.value, Role.SUPERVISOR.value])
            | agents_by_role
        )
        .distinct()
    )


def notification_preferences(user: Any) -> dict[str, tuple[bool, bool]]:
    """(in the bell, by email) for every kind: the agent's choice, else the default."""
    chosen = {
        row.kind: (row.in_app, row.email) for row in NotificationSetting.objects.filter(user=user)
    }
    return {kind: chosen.get(kind, default) for kind, default in NOTIFICATION_DEFAULTS.items()}


@transaction.atomic
def notification_settings_update(*, user: Any, choices: dict[str, tuple[bool, bool]]) -> None:
    """Store an agent's (in the bell, by email) per kind; unknown kinds are refused."""
    unknown = set(choices) - set(NOTIFICATION_DEFAULTS)
    if unknown:
        raise ServiceError(f"Unknown notification kind: {', '.join(sorted(unknown))}.")
    for kind, (in_app, email) in choices.items():
        NotificationSetting.objects.update_or_create(
            user=user, kind=kind, defaults={"in_app": in_app, "email": email}
        )


def _who(user: Any) -> str:
    if user is None:
        return ""
    return str(user.get_full_name() or user.get_username())


def _ticket_watchers(ticket: Ticket) -> set[int]:
    """The ticket's owner and its followers: "my ticket"."""
    ids = set(TicketFollower.objects.filter(ticket=ticket).values_list("user_id", flat=True))
    if ticket.assignee_id:
        ids.add(ticket.assignee_id)
    return ids


def _group_members(group_id: int | None) -> set[int]:
    if not group_id:
        return set()
    users = get_user_model().objects.filter(helpdesk_groups=group_id)
    return set(users.values_list("pk", flat=True))


def _message(payload: dict[str, Any]) -> Message | None:
    message_id = payload.get("message")
    if not isinstance(message_id, int):
        return None
    return Message.objects.filter(pk=message_id).first()


def _cause_of(event: TicketEvent, ticket: Ticket) -> Cause | None:
    payload = event.payload or {}
    label = f"#{ticket.number} {ticket.subject}"
    actor = _who(event.actor)
    if event.kind == TicketEvent.Kind.ASSIGNEE:
        new = payload.get("new")
        if not new:
            return None
        title = f"{actor} assigned {label} to you" if actor else f"{label} was assigned to you"
        return Cause(NotificationKind.ASSIGNED, {int(new)}, title)
    if event.kind in (TicketEvent.Kind.GROUP, TicketEvent.Kind.CREATED):
        group_id = payload.get("new") if event.kind == TicketEvent.Kind.GROUP else event.group_id
        if not group_id or ticket.assignee_id:
            return None
        return Cause(
            NotificationKind.GROUP_ASSIGNED,
            _group_members(int(group_id)),
            f"New in your group: {label}",
        )
    if event.kind == TicketEvent.Kind.MESSAGE:
        if payload.get("automatic") or payload.get("flag"):
            return None
        message = _message(payload)
        body = message.text[:300] if message else ""
        return Cause(
            NotificationKind.CUSTOMER_REPLY,
            _ticket_watchers(ticket),
            f"The customer replied on {label}",
            body,
        )
    if event.kind == TicketEvent.Kind.NOTE:
        message = _message(payload)
        mentioned = (message.metadata or {}).get("mentions", []) if message else []
        if not mentioned:
            return None
        return Cause(
            NotificationKind.MENTION,
            {int(pk) for pk in mentioned},
            f"{actor or 'Someone'} mentioned you on {label}",
            message.text[:300] if message else "",
        )
    if event.kind == TicketEvent.Kind.DELIVERY:
        if payload.get("status") != "failed":
            return None
        message = _message(payload)
        recipients = _ticket_watchers(ticket)
        if message is not None and message.author_user_id:
            recipients.add(message.author_user_id)
        return Cause(
            NotificationKind.DELIVERY_FAILED,
            recipients,
            f"A message on {label} could not be delivered",
            str(payload.get("detail", ""))[:300],
        )
    return None


def notifications_for_event(*, event_id: int) -> list[Notification]:
    """Apply the rules to one committed event; returns its notifications not yet emailed."""
    event = (
        TicketEvent.objects.filter(pk=event_id, kind__in=NOTIFYING_EVENTS)
        .select_related("ticket", "actor")
        .first()
    )
    if event is None:
        return []
    ticket = event.ticket
    if ticket.merged_into_id is not None:
        return []
    cause = _cause_of(event, ticket)
    if cause is None:
        return []
    return notify(
        ticket=ticket, cause=cause, actor=event.actor, dedupe_key=f"event:{event.pk}:{cause.kind}"
    )


def notify_sla_warning(
    ticket: Ticket,
    *,
    target: str = "",
    due_at: datetime | None = None,
    dedupe_key: str | None = None,
) -> list[Notification]:
    """The SLA engine's way in: a ticket is about to miss `target` ("first response",
    "resolution") at `due_at`. Tells its owner and followers, or, unassigned, its group.
    `dedupe_key` (e.g. "sla:<ticket>:first_response:<due>") makes repeated beats quiet."""
    recipients = _ticket_watchers(ticket) or _group_members(ticket.group_id)
    what = target or "an SLA target"
    when = f" at {timezone.localtime(due_at):%Y-%m-%d %H:%M}" if due_at else ""
    cause = Cause(
        NotificationKind.SLA_WARNING,
        recipients,
        f"#{ticket.number} {ticket.subject}: {what} is due{when}",
    )
    key = dedupe_key or f"sla:{ticket.pk}:{target}:{due_at.isoformat() if due_at else ''}"
    return notify(ticket=ticket, cause=cause, actor=None, dedupe_key=key[:200])


def notify(*, ticket: Ticket, cause: Cause, actor: Any, dedupe_key: str) -> list[Notification]:
    """Write the cause's notifications for those who may and want to hear it; after commit,
    ring their bells and queue the emails they asked for. Returns the cause's rows not yet
    emailed (a repeat of the cause writes nothing new; its email task then finds them sent)."""
    recipients = set(cause.recipients)
    if actor is not None:
        recipients.discard(actor.pk)
    if not recipients:
        return []
    allowed = list(ticket_audience(ticket).filter(pk__in=recipients))
    settings_rows = {
        (row.user_id): (row.in_app, row.email)
        for row in NotificationSetting.objects.filter(user__in=allowed, kind=cause.kind)
    }
    default = NOTIFICATION_DEFAULTS[cause.kind]
    rows: list[Notification] = []
    email_to: set[int] = set()
    for user in allowed:
        in_app, email = settings_rows.get(user.pk, default)
        if not (in_app or email):
            continue
        if email and user.email:
            email_to.add(user.pk)
        rows.append(
            Notification(
                recipient=user,
                kind=cause.kind,
                ticket=ticket,
                actor=actor if getattr(actor, "pk", None) else None,
                title=cause.title[:300],
                body=cause.body,
                # a kind wanted by email only stays out of the bell: it is born read
                read_at=None if in_app else timezone.now(),
                dedupe_key=dedupe_key,
            )
        )
    with transaction.atomic():
        Notification.objects.bulk_create(rows, ignore_conflicts=True)
        written = list(
            Notification.objects.filter(
                dedupe_key=dedupe_key, recipient_id__in=[r.recipient_id for r in rows]
            ).filter(emailed_at__isnull=True)
        )
        transaction.on_commit(lambda: _after_commit(written, email_to))
    return written


def _after_commit(rows: Iterable[Notification], email_to: set[int]) -> None:
    from .. import live
    from ..tasks import send_notification_email

    rows = list(rows)
    for row in rows:
        if row.recipient_id in email_to:
            send_notification_email.delay(row.pk)
    live.push_notifications({row.recipient_id for row in rows if row.read_at is None})


def notification_email_send(*, notification_id: int) -> bool:
    """Send one notification's email, once: locks the row, sends, stamps `emailed_at`.
    Returns whether it sent now."""
    from django.conf import settings
    from django.core.mail import EmailMultiAlternatives
    from django.template.loader import render_to_string
    from django.urls import reverse

    with transaction.atomic():
        row = (
            Notification.objects.select_for_update(of=("self",))
            .select_related("recipient", "ticket")
            .filter(pk=notification_id)
            .first()
        )
        if row is None or row.emailed_at is not None or not row.recipient.email:
            return False
        base = settings.HELPDESK_BASE_URL.rstrip("/")
        link = ""
        if row.ticket is not None:
            link = base + reverse("desk:ticket", kwargs={"number": row.ticket.number})
        context = {
            "notification": row,
            "link": link,
            "settings_link": base + reverse("desk:notification_settings"),
        }
        subject = render_to_string("emails/notification_subject.txt", context).strip()
        mail = EmailMultiAlternatives(
            subject=" ".join(subject.split())[:200],
            body=render_to_string("emails/notification.txt", context),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[row.recipient.email],
            headers={"Auto-Submitted": "auto-generated", "X-Helpdesk-Notification": row.kind},
        )
        mail.attach_alternative(render_to_string("emails/notification.html", context), "text/html")
        mail.send()
        row.emailed_at = timezone.now()
        row.save(update_fields=["emailed_at"])
    return True


def notification_mark_read(*, user: Any, notification_id: int | None = None) -> int:
    """Mark one of the user's notifications read (or all of them, with no id). Returns how
    many changed; another user's notification is simply not found."""
    unread = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if notification_id is not None:
        unread = unread.filter(pk=notification_id)
    changed = unread.update(read_at=timezone.now())
    if changed:
        from .. import live

        transaction.on_commit(lambda: live.push_notifications({user.pk}))
    return changed


def ticket_follow(*, ticket: Ticket, user: Any) -> bool:
    """Follow a ticket (idempotent); returns whether the user follows it now for the first time."""
    _, created = TicketFollower.objects.get_or_create(ticket=ticket, user=user)
    return created


def ticket_unfollow(*, ticket: Ticket, user: Any) -> bool:
    deleted, _ = TicketFollower.objects.filter(ticket=ticket, user=user).delete()
    return bool(deleted)


def notify_after_commit(event_id: int) -> None:
    """What `event_record` schedules: the rules must never undo or fail the change itself."""
    try:
        notifications_for_event(event_id=event_id)
    except Exception:  # noqa: BLE001 - a missed notification is logged, the write stands
        log.exception("notifications for event %s failed", event_id)

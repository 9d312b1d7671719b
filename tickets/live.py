"""Live updates: after a ticket changes, tell the screens allowed to see it.

Agents join one channel-layer group per team they belong to (`desk.group.<id>`), admins and
supervisors join `desk.all`; an event carries only the ticket number and what changed, and the
page fetches the new state through the normal, permission-checked views.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.dispatch import receiver

from .events import ticket_changed

log = logging.getLogger(__name__)

ALL_GROUP = "desk.all"
UNGROUPED = "desk.nogroup"


def group_channel(group_id: int | None) -> str:
    return f"desk.group.{group_id}" if group_id else UNGROUPED


def assignee_channel(user_id: int) -> str:
    return f"desk.user.{user_id}"


@receiver(ticket_changed)
def push_ticket_changed(
    sender: Any, ticket_id: int, number: int, group_id: int | None, kind: str, **kwargs: Any
) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    event = {"type": "ticket.changed", "number": number, "kind": kind}
    from .models import Ticket

    assignee_id = Ticket.objects.filter(pk=ticket_id).values_list("assignee_id", flat=True).first()
    targets = [ALL_GROUP, group_channel(group_id)]
    if assignee_id:
        targets.append(assignee_channel(assignee_id))

    async def send_all() -> None:
        for target in targets:
            await layer.group_send(target, event)

    try:
        # one event loop for all targets: each async_to_sync call costs a loop and a connection
        async_to_sync(send_all)()
    except Exception:  # noqa: BLE001 - a live screen missing one update must not fail a write
        log.warning("live update for ticket %s not sent", number, exc_info=True)


def push_notifications(user_ids: set[int]) -> None:
    """Ring these agents' bells: each socket of theirs hears its new unread count."""
    layer = get_channel_layer()
    if layer is None or not user_ids:
        return
    from django.db.models import Count

    from .models import Notification

    counts = dict(
        Notification.objects.filter(recipient_id__in=user_ids, read_at__isnull=True)
        .values_list("recipient_id")
        .annotate(n=Count("id"))
        .values_list("recipient_id", "n")
    )

    async def send_all() -> None:
        for user_id in user_ids:
            await layer.group_send(
                assignee_channel(user_id),
                {"type": "notification.new", "unread": counts.get(user_id, 0)},
            )

    try:
        async_to_sync(send_all)()
    except Exception:  # noqa: BLE001 - a bell that misses a ring must not fail a write
        log.warning("bell update for users %s not sent", sorted(user_ids), exc_info=True)

"""What a rule does to a ticket: one function per action type, each through the ticket
services (actor kind automation), each recorded as an AUTOMATION event keyed by the caller's
`dedupe_key`, so a second run of the same cause does nothing more.

Called by the engine inside its transaction, with the ticket row locked. Outside effects
(email, webhooks) are queued with `on_commit`: they leave only if the actions committed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.template import Context, Engine
from django.utils import timezone

from .. import event_types as et
from .. import events, services
from ..models import ActorKind, Channel, Group, Message, Ticket, TicketEvent
from ..services.common import ServiceError
from ..services.history import already_recorded
from .models import AutomationRule, WebhookCall
from .rules import Action

AUTOMATION = ActorKind.AUTOMATION


@cache
def template_engine() -> Engine:
    """Plain-text templates ({{ ticket.number }}, {{ contact.name }}): nothing is escaped,
    since the text goes into emails and notes, never into HTML unescaped by the desk."""
    return Engine(autoescape=False, libraries={}, builtins=[])


@dataclass(frozen=True)
class Cause:
    """Why a rule acts: the triggering event (triggers) or the state (time automations)."""

    rule: AutomationRule
    event_id: int | None
    chain: tuple[int, ...]


def render(text: str, ticket: Ticket, rule: AutomationRule) -> str:
    context = Context(
        {
            "ticket": ticket,
            "contact": ticket.contact,
            "organisation": ticket.organisation,
            "rule": rule.name,
        }
    )
    return template_engine().from_string(text).render(context)


def action_run(*, ticket: Ticket, action: Action, cause: Cause, dedupe_key: str) -> bool:
    """Do one action once. Returns whether it was done now (False: already done by an
    earlier run). A rule that no longer fits the ticket (an agent outside the group) is
    recorded with its error rather than failing the whole run."""
    if already_recorded(dedupe_key):
        return False
    detail, error = "", ""
    try:
        with transaction.atomic():
            detail = HANDLERS[action.type](ticket, action, cause, dedupe_key)
    except ServiceError as exc:
        error = str(exc)[:500]
    services.event_record(
        ticket=ticket,
        kind=TicketEvent.Kind.AUTOMATION,
        actor_kind=AUTOMATION,
        payload=et.RuleAction(
            rule=cause.rule.pk,
            rule_name=cause.rule.name,
            action=action.type,
            detail=detail[:500],
            cause=cause.event_id,
            chain=list(cause.chain),
            error=error,
        ),
        dedupe_key=dedupe_key,
    )
    return True


def _fresh(ticket: Ticket) -> Ticket:
    return Ticket.objects.select_related("contact", "organisation", "group").get(pk=ticket.pk)


def _not_closed(ticket: Ticket) -> None:
    if _fresh(ticket).status == Ticket.Status.CLOSED:
        raise ServiceError("A closed ticket is not changed by rules.")


def _set_status(ticket: Ticket, action: Action, cause: Cause, key: str) -> str:
    _not_closed(ticket)
    old = _fresh(ticket).status
    services.ticket_set_status(
        ticket=ticket,
        status=action.value,
        actor=None,
        actor_kind=AUTOMATION,
        reason=f"rule: {cause.rule.name}"[:100],
    )
    return f"{old} → {action.value}"


def _set_priority(ticket: Ticket, action: Action, cause: Cause, key: str) -> str:
    _not_closed(ticket)
    services.ticket_set_priority(
        ticket=ticket, priority=action.value, actor=None, actor_kind=AUTOMATION
    )
    return str(action.value)


def _set_group(ticket: Ticket, action: Action, cause: Cause, key: str) -> str:
    _not_closed(ticket)
    group = None
    if action.value is not None:
        group = Group.objects.filter(pk=action.value).first()
        if group is None:
            raise ServiceError(f"Group {action.value} no longer exists.")
    services.ticket_set_group(ticket=ticket, group=group, actor=None, actor_kind=AUTOMATION)
    return group.name if group else "no group"


def _assign(ticket: Ticket, action: Action, cause: Cause, key: str) -> str:
    _not_closed(ticket)
    agent = None
    if action.value is not None:
        agent = get_user_model().objects.filter(pk=action.value, is_active=True).first()
        if agent is None:
            raise ServiceError(f"Agent {action.value} no longer exists.")
    services.ticket_assign(ticket=ticket, agent=agent, actor=None, actor_kind=AUTOMATION)
    return str(agent) if agent else "nobody"


def _tags(ticket: Ticket, action: Action, cause: Cause, key: str) -> str:
    _not_closed(ticket)
    current = set(
        Ticket.tags.through.objects.filter(ticket_id=ticket.pk).values_list("tag__name", flat=True)
    )
    wanted = current | {action.value} if action.type == "add_tag" else current - {action.value}
    services.ticket_set_tags(ticket=ticket, names=sorted(wanted), actor=None, actor_kind=AUTOMATION)
    return str(action.value)


def _note(ticket: Ticket, action: Action, cause: Cause, key: str) -> str:
    fresh = _fresh(ticket)
    message = services.ticket_note(
        ticket=fresh,
        author=None,
        text=render(action.value, fresh, cause.rule),
        actor_kind=AUTOMATION,
    )
    return f"note #{message.pk}"


def _reply(ticket: Ticket, action: Action, cause: Cause, key: str) -> str:
    """A templated message to the customer through the normal reply path: an automatic
    message (never an agent reply for response times), whose delivery the channel edge
    records from `reply_posted` like any reply's."""
    fresh = _fresh(ticket)
    channel = Channel.EMAIL if action.type == "send_email" else fresh.channel
    subject = render(action.subject, fresh, cause.rule).strip() or fresh.subject
    message = services.ticket_auto_message(
        ticket=fresh,
        subject=subject,
        text=render(action.text, fresh, cause.rule),
        channel=channel,
        channel_account_id=fresh.channel_account_id if channel == fresh.channel else None,
        external_id="",
        metadata={
            "auto_submitted": "auto-generated",
            "purpose": f"rule: {cause.rule.name}",
            "rule": cause.rule.pk,
        },
        actor_kind=AUTOMATION,
    )
    events.reply_posted.send(sender=Message, message=message)
    return f"message #{message.pk} by {channel}"


def _notify(ticket: Ticket, action: Action, cause: Cause, key: str) -> str:
    fresh = _fresh(ticket)
    if action.to == "assignee":
        users = [fresh.assignee] if fresh.assignee is not None else []
    else:
        users = list(fresh.group.members.filter(is_active=True)) if fresh.group else []
    recipients = sorted({u.email for u in users if u is not None and u.email})
    if not recipients:
        raise ServiceError(f"Nobody to notify ({action.to}).")
    subject = (
        render(action.subject, fresh, cause.rule).strip() or f"[#{fresh.number}] {fresh.subject}"
    )
    text = render(action.text, fresh, cause.rule)
    from .tasks import notify_send

    transaction.on_commit(lambda: notify_send.delay(recipients, subject[:300], text))
    return "notified " + ", ".join(recipients)


def _webhook(ticket: Ticket, action: Action, cause: Cause, key: str) -> str:
    fresh = _fresh(ticket)
    body = json.dumps(
        {
            "rule": {"id": cause.rule.pk, "name": cause.rule.name},
            "cause_event": cause.event_id,
            "sent_for": key,
            "ticket": {
                "number": fresh.number,
                "subject": fresh.subject,
                "status": fresh.status,
                "priority": fresh.priority,
                "channel": fresh.channel,
                "group": fresh.group.name if fresh.group else None,
                "assignee": fresh.assignee_id,
                "tags": sorted(
                    Ticket.tags.through.objects.filter(ticket_id=fresh.pk).values_list(
                        "tag__name", flat=True
                    )
                ),
                "updated_at": fresh.updated_at.isoformat(),
            },
            "created_at": timezone.now().isoformat(),
        },
        sort_keys=True,
    )
    call = WebhookCall.objects.create(
        rule=cause.rule,
        ticket=fresh,
        dedupe_key=key,
        url=action.url,
        secret=action.secret,
        body=body,
    )
    from .tasks import webhook_send

    call_id = call.pk
    transaction.on_commit(lambda: webhook_send.delay(call_id))
    return f"webhook #{call.pk} to {action.url}"


HANDLERS: dict[str, Any] = {
    "set_status": _set_status,
    "set_priority": _set_priority,
    "set_group": _set_group,
    "assign": _assign,
    "add_tag": _tags,
    "remove_tag": _tags,
    "add_note": _note,
    "send_reply": _reply,
    "send_email": _reply,
    "notify_agents": _notify,
    "webhook": _webhook,
}

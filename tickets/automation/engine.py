"""Running rules: triggers on one ticket event, time automations over the tickets whose
time has come, and the dry run of either.

Loops: the rules that fired on an event are carried to the events their actions caused (the
chain); a rule in the chain is skipped, and a chain deeper than `MAX_DEPTH` is refused. Both
refusals are written on the run (`TriggerRun.refused`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from ..models import ActorKind, Ticket, TicketEvent
from ..services.common import _lock
from .actions import Cause, action_run
from .models import AutomationRule, TimeRun, TriggerRun
from .rules import RuleError, conditions_q, parse_stored

log = logging.getLogger(__name__)

MAX_DEPTH = 5
SWEEP_BATCH = 500

_KIND_EVENTS = {
    TicketEvent.Kind.CREATED: "ticket_created",
    TicketEvent.Kind.REPLY: "agent_replied",
    TicketEvent.Kind.STATUS: "status_changed",
    TicketEvent.Kind.PRIORITY: "priority_changed",
    TicketEvent.Kind.GROUP: "group_changed",
    TicketEvent.Kind.ASSIGNEE: "assignee_changed",
    "sla_warning": "sla_warning",
    "sla_breach": "sla_breach",
}
SOURCE_KINDS = frozenset([*_KIND_EVENTS, TicketEvent.Kind.MESSAGE, TicketEvent.Kind.TAGS])


def trigger_event_name(event: TicketEvent) -> str | None:
    """The trigger event a log entry is, if any: a customer message that opened the ticket
    is "ticket_created", not a reply; a tag change is "tag_added" only when it adds one."""
    if event.kind == TicketEvent.Kind.MESSAGE:
        if event.payload.get("automatic") or event.payload.get("flag"):
            return None
        opened = TicketEvent.objects.filter(
            ticket_id=event.ticket_id,
            kind=TicketEvent.Kind.CREATED,
            payload__message=event.payload.get("message"),
        ).exists()
        return None if opened else "customer_replied"
    if event.kind == TicketEvent.Kind.TAGS:
        added = set(event.payload.get("new") or []) - set(event.payload.get("old") or [])
        return "tag_added" if added else None
    return _KIND_EVENTS.get(event.kind)


def _matches(rule: AutomationRule, ticket_id: int, now: datetime) -> bool:
    parsed = parse_stored(rule)
    q = conditions_q(parsed.match, parsed.conditions, now)
    return Ticket.objects.filter(pk=ticket_id).filter(q).exists()


@dataclass(frozen=True)
class RunResult:
    fired: list[int]
    refused: str
    caused: list[int]  # events the actions wrote, handed on down the chain


def triggers_run(*, event_id: int, chain: Sequence[int] = (), depth: int = 0) -> RunResult:
    """Run the triggers on one event, once: with the ticket locked, a `TriggerRun` row for
    the event commits with the actions, so a second run (a retry, a duplicate delivery)
    finds it and does nothing. Each action's dedupe key is (rule, event, action index)."""
    with transaction.atomic():
        event = TicketEvent.objects.select_related("ticket").get(pk=event_id)
        ticket = _lock(event.ticket)
        if TriggerRun.objects.filter(event_id=event_id).exists():
            return RunResult([], "already run", [])
        name = trigger_event_name(event)
        if name is None:
            return RunResult([], "", [])
        if depth > MAX_DEPTH:
            refused = f"chain deeper than {MAX_DEPTH}: rules {list(chain)}"
            log.warning(
                "automation: refused event %s on ticket %s: %s", event_id, ticket.pk, refused
            )
            TriggerRun.objects.create(event=event, chain=list(chain), depth=depth, refused=refused)
            return RunResult([], refused, [])
        last_event = (
            TicketEvent.objects.filter(ticket=ticket)
            .order_by("-id")
            .values_list("id", flat=True)[:1]
        )
        watermark = last_event[0] if last_event else 0
        now = timezone.now()
        fired: list[int] = []
        skipped: list[int] = []
        rules = AutomationRule.objects.filter(
            kind=AutomationRule.Kind.TRIGGER, active=True, events__contains=[name]
        ).order_by("position", "id")
        for rule in rules:
            try:
                matched = _matches(rule, ticket.pk, now)
            except RuleError:
                log.exception("automation: rule %s cannot be run", rule.pk)
                continue
            if not matched:
                continue
            if rule.pk in chain:
                skipped.append(rule.pk)  # it caused this event: firing again would loop
                continue
            cause = Cause(rule=rule, event_id=event_id, chain=tuple(chain))
            for index, action in enumerate(parse_stored(rule).actions):
                action_run(
                    ticket=ticket,
                    action=action,
                    cause=cause,
                    dedupe_key=f"trigger:{rule.pk}:{event_id}:{index}",
                )
            fired.append(rule.pk)
            if rule.stop:
                break
        refused = f"loop refused: rules {skipped} already fired in this chain" if skipped else ""
        TriggerRun.objects.create(
            event=event, chain=list(chain), depth=depth, fired=fired, refused=refused
        )
        caused = list(
            TicketEvent.objects.filter(
                ticket=ticket, id__gt=watermark, actor_kind=ActorKind.AUTOMATION
            )
            .exclude(kind=TicketEvent.Kind.AUTOMATION)
            .values_list("id", flat=True)
        )
        if caused:
            _hand_on(caused, [*chain, *fired], depth + 1)
    return RunResult(fired, refused, caused)


def _hand_on(event_ids: list[int], chain: list[int], depth: int) -> None:
    from .tasks import run_triggers

    def queue() -> None:
        for event_id in event_ids:
            run_triggers.delay(event_id, chain, depth)

    transaction.on_commit(queue)


# --- time automations -----------------------------------------------------------------------


def _due_tickets(rule: AutomationRule, now: datetime, limit: int) -> list[int]:
    """Ids of tickets the rule matches now and has not acted on in their current state,
    oldest state first. The status and hours conditions run on (status, status_changed_at);
    the runs already done are an anti-join on TimeRun's unique index."""
    parsed = parse_stored(rule)
    done = TimeRun.objects.filter(
        rule=rule, ticket_id=OuterRef("pk"), state_since=OuterRef("status_changed_at")
    )
    return list(
        Ticket.objects.filter(conditions_q(parsed.match, parsed.conditions, now))
        .filter(merged_into__isnull=True)
        .exclude(Exists(done))
        .order_by("status_changed_at", "id")
        .values_list("id", flat=True)[:limit]
    )


def time_rule_apply(*, rule: AutomationRule, ticket_id: int, now: datetime) -> bool:
    """Act on one ticket once per (rule, ticket, the state it is in): locks the ticket,
    re-checks the rule and the TimeRun under the lock, so two sweeps at once act once."""
    with transaction.atomic():
        ticket = _lock(Ticket(pk=ticket_id))
        if TimeRun.objects.filter(
            rule=rule, ticket_id=ticket_id, state_since=ticket.status_changed_at
        ).exists():
            return False
        if not _matches(rule, ticket_id, now):
            return False
        watermark = (
            TicketEvent.objects.filter(ticket=ticket)
            .order_by("-id")
            .values_list("id", flat=True)
            .first()
            or 0
        )
        stamp = ticket.status_changed_at.isoformat()
        cause = Cause(rule=rule, event_id=None, chain=())
        for index, action in enumerate(parse_stored(rule).actions):
            action_run(
                ticket=ticket,
                action=action,
                cause=cause,
                dedupe_key=f"time:{rule.pk}:{ticket_id}:{stamp}:{index}",
            )
        try:
            with transaction.atomic():
                TimeRun.objects.create(
                    rule=rule, ticket_id=ticket_id, state_since=ticket.status_changed_at
                )
        except IntegrityError:  # pragma: no cover - the lock above serialises sweeps
            return False
        caused = list(
            TicketEvent.objects.filter(
                ticket=ticket, id__gt=watermark, actor_kind=ActorKind.AUTOMATION
            )
            .exclude(kind=TicketEvent.Kind.AUTOMATION)
            .values_list("id", flat=True)
        )
        if caused:  # what a time rule changed may fire triggers, as one step of a chain
            _hand_on(caused, [], 1)
    return True


def time_sweep(*, now: datetime | None = None, batch: int = SWEEP_BATCH) -> int:
    """One pass of every active time automation, in order; returns how many tickets were
    acted on. Safe to run twice at once (see `time_rule_apply`)."""
    now = now or timezone.now()
    acted = 0
    for rule in AutomationRule.objects.filter(kind=AutomationRule.Kind.TIME, active=True).order_by(
        "position", "id"
    ):
        try:
            ids = _due_tickets(rule, now, batch)
        except RuleError:
            log.exception("automation: time rule %s cannot be run", rule.pk)
            continue
        for ticket_id in ids:
            if time_rule_apply(rule=rule, ticket_id=ticket_id, now=now):
                acted += 1
    return acted


# --- dry run --------------------------------------------------------------------------------


def rule_dry_run(*, rule: AutomationRule, limit: int = 100) -> list[Ticket]:
    """The tickets the rule would touch now: a time rule's due tickets (not yet acted on in
    their state); for a trigger, the open tickets its conditions match (what it would act on
    if one of its events happened now). Reads only."""
    now = timezone.now()
    if rule.kind == AutomationRule.Kind.TIME:
        ids = _due_tickets(rule, now, limit)
        rows = Ticket.objects.filter(pk__in=ids)
    else:
        parsed = parse_stored(rule)
        rows = (
            Ticket.objects.filter(conditions_q(parsed.match, parsed.conditions, now))
            .exclude(status=Ticket.Status.CLOSED)
            .filter(merged_into__isnull=True)
        )
    return list(
        rows.select_related("group", "assignee", "contact").order_by("-updated_at", "-id")[:limit]
    )

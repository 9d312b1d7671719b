"""SLA on real tickets: which policy applies, the ticket's timeline, and storing the results.

- `sla_timeline(ticket)` is the ONE place that translates rows into the engine's entries.
- `ticket_sla(ticket, now=...)` computes a ticket's targets without writing (the API, the page).
- `ticket_sla_recompute(ticket_id=...)` replays a ticket and stores the due columns, the
  `SlaTarget` rows and, once each, the milestones (achieved, breached) with their events. It
  locks the ticket row, so it is safe to run twice or concurrently: the outcome is the same.
- `sla_sweep(now=...)` is the beat's job: tickets whose `sla_next_due_at` has passed, by index.
- Policy writes: `sla_policy_create`, `sla_policy_update`, `sla_policy_delete`,
  `sla_policy_move`, each validated and in one transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from . import sla_events
from .calendar_models import Calendar
from .calendar_services import calendar_spec
from .calendars import CalendarError, CalendarSpec
from .models import ActorKind, Group, Organisation, Ticket, TicketEvent
from .services.history import event_record
from .sla import (
    PRIORITIES,
    AgentReply,
    CustomerMessage,
    Entry,
    Metric,
    Opened,
    Other,
    PriorityChange,
    SlaError,
    StatusChange,
    TargetResult,
    next_due,
    parse_pause_on,
    parse_pause_targets,
    parse_targets,
    sla_replay,
    targets_to_json,
)
from .sla_models import SlaMilestone, SlaPolicy, SlaTarget, parse_conditions

log = logging.getLogger(__name__)

PRIORITY_NAMES: dict[int, str] = dict(zip(Ticket.Priority.values, PRIORITIES, strict=True))
PRIORITY_VALUES: dict[str, int] = {name: value for value, name in PRIORITY_NAMES.items()}
SWEEP_BATCH = 500


class SlaPolicyError(ValueError):
    """A policy that cannot be saved; `field` names the input at fault."""

    def __init__(self, message: str, *, field: str = "non_field_errors") -> None:
        super().__init__(message)
        self.field = field


# --- the adapter: rows → timeline ---------------------------------------------------------------


def sla_timeline(ticket: Ticket) -> list[Entry]:
    """The ticket's history as the engine reads it: its typed event log, in the order things
    happened (one query). Only an agent's public reply (`reply`) answers; automatic messages,
    bot answers and notes become `Other`. The opening priority is the `created` event's
    snapshot, so an imported or replayed ticket reads the same as a live one."""
    entries: list[Entry] = []
    opened_at = ticket.created_at
    initial: int | None = None
    rows = (
        ticket.events.filter(kind__in=TIMELINE_KINDS)
        .order_by("occurred_at", "id")
        .values_list("kind", "payload", "occurred_at", "priority")
    )
    for kind, payload, at, priority_after in rows:
        data = payload if isinstance(payload, dict) else {}
        if kind == Kind.CREATED:
            opened_at = min(opened_at, at)
            initial = priority_after
        elif kind == Kind.MESSAGE:
            entries.append(Other(at, "automatic") if data.get("automatic") else CustomerMessage(at))
        elif kind == Kind.REPLY:
            entries.append(AgentReply(at))
        elif kind == Kind.BOT_REPLY:
            entries.append(Other(at, "bot"))
        elif kind == Kind.AUTO_MESSAGE:
            entries.append(Other(at, "automatic"))
        elif kind == Kind.NOTE:
            entries.append(Other(at, "note"))
        elif kind == Kind.STATUS and isinstance(data.get("new"), str):
            entries.append(StatusChange(at, data["new"]))
        elif kind == Kind.PRIORITY and data.get("new") in PRIORITY_NAMES:
            if initial is None and data.get("old") in PRIORITY_NAMES:
                initial = data["old"]
            entries.append(PriorityChange(at, PRIORITY_NAMES[data["new"]]))
    if initial not in PRIORITY_NAMES:
        initial = ticket.priority
    opened_at = min([opened_at, *(e.at for e in entries)])
    return [Opened(opened_at, PRIORITY_NAMES.get(initial, "normal")), *entries]


Kind = TicketEvent.Kind
TIMELINE_KINDS = (
    Kind.CREATED,
    Kind.MESSAGE,
    Kind.REPLY,
    Kind.BOT_REPLY,
    Kind.AUTO_MESSAGE,
    Kind.NOTE,
    Kind.STATUS,
    Kind.PRIORITY,
)


# --- which policy -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TicketFacts:
    """What policy conditions look at, by name."""

    priority: str
    group: str | None
    channel: str
    organisation: str | None
    tags: frozenset[str]


def ticket_facts(ticket: Ticket) -> TicketFacts:
    group = org = None
    if ticket.group_id is not None:
        group = Group.objects.filter(pk=ticket.group_id).values_list("name", flat=True).first()
    if ticket.organisation_id is not None:
        org = (
            Organisation.objects.filter(pk=ticket.organisation_id)
            .values_list("name", flat=True)
            .first()
        )
    return TicketFacts(
        priority=PRIORITY_NAMES.get(ticket.priority, "normal"),
        group=group,
        channel=ticket.channel,
        organisation=org,
        tags=frozenset(ticket.tags.values_list("name", flat=True)),
    )


def policy_matches(conditions: Mapping[str, Sequence[str]], facts: TicketFacts) -> bool:
    """Every condition given must hold; no conditions match every ticket."""
    for key, values in conditions.items():
        if not values:
            continue
        if key == "tags":
            if not facts.tags.intersection(values):
                return False
            continue
        if getattr(facts, key) not in values:
            return False
    return True


def policy_for(ticket: Ticket, policies: Iterable[SlaPolicy] | None = None) -> SlaPolicy | None:
    """The first active policy, by position, whose conditions the ticket meets."""
    if policies is None:
        policies = SlaPolicy.objects.filter(active=True).select_related("calendar")
    facts: TicketFacts | None = None
    for policy in policies:
        if not policy.active:
            continue
        facts = facts or ticket_facts(ticket)
        if policy_matches(policy.conditions or {}, facts):
            return policy
    return None


def _spec_for(policy: SlaPolicy) -> CalendarSpec | None:
    if policy.calendar_id is None:
        return None
    calendar = Calendar.objects.prefetch_related("holidays").get(pk=policy.calendar_id)
    return calendar_spec(calendar)


# --- reading a ticket's SLA ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TicketSla:
    policy: SlaPolicy | None
    targets: list[TargetResult]
    waiting: tuple[Metric, ...] = ()  # cyclic targets the policy sets that have not started

    @property
    def due_at(self) -> datetime | None:
        return next_due(self.targets)


def ticket_sla(ticket: Ticket, *, now: datetime | None = None) -> TicketSla:
    """The ticket's targets computed now from its timeline (no writes)."""
    policy = policy_for(ticket)
    if policy is None:
        return TicketSla(policy=None, targets=[])
    spec = policy.spec()
    try:
        state = sla_replay(spec, _spec_for(policy), sla_timeline(ticket))
        results = state.results(now or timezone.now())
    except (SlaError, CalendarError) as exc:
        log.warning("SLA of ticket %s not computed: %s", ticket.number, exc)
        return TicketSla(policy=policy, targets=[])
    started = {r.metric for r in results}
    waiting = tuple(
        m
        for m in (Metric.NEXT_REPLY, Metric.PERIODIC_UPDATE)
        if m not in started and spec.minutes(state.priority, m) is not None
    )
    return TicketSla(policy=policy, targets=results, waiting=waiting)


@dataclass(frozen=True, slots=True)
class SlaRow:
    """One target as the ticket page shows it: the latest cycle of each metric."""

    metric: str
    label: str
    due_at: datetime | None
    completed_at: datetime | None
    breached: bool
    breached_at: datetime | None
    paused: bool


@dataclass(frozen=True, slots=True)
class SlaPanel:
    policy: SlaPolicy | None
    targets: list[SlaRow]


def ticket_sla_panel(ticket: Ticket) -> SlaPanel:
    """The ticket's targets as last stored by the live path: one query, however long the
    ticket's history (the page must not replay it on every view)."""
    latest: dict[str, SlaTarget] = {}
    policy: SlaPolicy | None = None
    for target in SlaTarget.objects.filter(ticket=ticket).select_related("policy"):
        latest[target.metric] = target
        policy = target.policy
    rows = [
        SlaRow(
            metric=m.value,
            label=str(sla_events.METRIC_LABELS[m.value]),
            due_at=t.due_at,
            completed_at=t.completed_at,
            breached=t.breached_at is not None,
            breached_at=t.breached_at,
            paused=t.paused,
        )
        for m in Metric
        if (t := latest.get(m.value)) is not None
    ]
    return SlaPanel(policy=policy, targets=rows)


# --- storing it ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecomputeOutcome:
    ticket_id: int
    policy_id: int | None
    achieved: int
    breached: int
    skipped: bool = False


def _current(results: Sequence[TargetResult], metric: Metric) -> TargetResult | None:
    found = [r for r in results if r.metric == metric]
    return found[-1] if found else None


def _running_due(results: Sequence[TargetResult], metric: Metric) -> datetime | None:
    current = _current(results, metric)
    return current.due_at if current is not None and current.running else None


def ticket_sla_recompute(
    *, ticket_id: int, now: datetime | None = None, skip_locked: bool = False
) -> RecomputeOutcome:
    """Replay one ticket and store what its policy gives it. Locks the ticket row (with
    `skip_locked`, a ticket another worker holds is left to it). Idempotent: each milestone
    (target achieved, target breached) is inserted under a unique key and its TicketEvent is
    written only by the insert that created it."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = Ticket.objects.select_for_update(skip_locked=skip_locked, of=("self",))
        ticket = locked.filter(pk=ticket_id).first()
        if ticket is None:
            return RecomputeOutcome(ticket_id, None, 0, 0, skipped=True)
        computed = ticket_sla(ticket, now=now)
        results = computed.targets
        policy = computed.policy
        SlaTarget.objects.filter(ticket=ticket).delete()
        SlaTarget.objects.bulk_create(
            SlaTarget(
                ticket=ticket,
                policy=policy,
                metric=r.metric.value,
                cycle=r.cycle,
                due_at=r.due_at,
                completed_at=r.completed_at,
                breached_at=r.breached_at,
                paused=r.paused,
                running=r.running,
            )
            for r in results
        )
        achieved = breached = 0
        for r in results:
            if r.completed_at is not None and not r.breached:
                achieved += _milestone(ticket, r, SlaMilestone.Kind.ACHIEVED, r.completed_at)
            if r.breached_at is not None:
                breached += _milestone(ticket, r, SlaMilestone.Kind.BREACHED, r.breached_at)
        Ticket.objects.filter(pk=ticket.pk).update(
            sla_policy=policy,
            first_reply_due_at=_running_due(results, Metric.FIRST_REPLY),
            next_reply_due_at=_running_due(results, Metric.NEXT_REPLY),
            resolution_due_at=_running_due(results, Metric.RESOLUTION),
            sla_due_at=next_due(results),
            sla_next_due_at=next_due(results, unbreached=True),
            sla_breached=any(r.breached for r in results),
        )
    return RecomputeOutcome(ticket.pk, policy.pk if policy else None, achieved, breached)


def _milestone(ticket: Ticket, result: TargetResult, kind: str, at: datetime) -> int:
    try:
        with transaction.atomic():  # a savepoint: a duplicate leaves the outer work intact
            SlaMilestone.objects.create(
                ticket=ticket,
                metric=result.metric.value,
                cycle=result.cycle,
                kind=kind,
                at=at,
                due_at=result.due_at,
            )
    except IntegrityError:
        return 0
    event_kind = sla_events.ACHIEVED if kind == SlaMilestone.Kind.ACHIEVED else sla_events.BREACHED
    event_record(
        ticket=ticket,
        kind=event_kind,
        actor_kind=ActorKind.SYSTEM,
        payload=sla_events.payload(
            metric=result.metric.value, cycle=result.cycle, due_at=result.due_at
        ),
        occurred_at=at,  # when it happened (the reply, the due instant), not when it was seen
        dedupe_key=f"sla:{ticket.pk}:{result.metric.value}:{result.cycle}:{event_kind}",
    )
    return 1


def sla_sweep(*, now: datetime | None = None, batch: int = SWEEP_BATCH) -> int:
    """Record the breaches that are due: tickets whose soonest unbreached due has passed, read
    by the partial index on `sla_next_due_at`. Returns how many breaches it recorded. Two
    sweeps at once skip each other's locked tickets and the unique milestone key holds
    whatever they overlap on."""
    now = now or timezone.now()
    ids = list(
        Ticket.objects.filter(sla_next_due_at__lte=now)
        .order_by("sla_next_due_at")
        .values_list("pk", flat=True)[:batch]
    )
    recorded = 0
    for ticket_id in ids:
        recorded += ticket_sla_recompute(ticket_id=ticket_id, now=now, skip_locked=True).breached
    return recorded


def sla_recompute_tickets(*, only_open: bool = True) -> int:
    """Replay every (open) ticket: after a policy changed, or to repair. Returns the count."""
    qs = Ticket.objects.filter(merged_into__isnull=True)
    if only_open:
        qs = qs.filter(status__in=Ticket.ACTIVE_STATUSES)
    count = 0
    for ticket_id in qs.order_by("pk").values_list("pk", flat=True).iterator(chunk_size=1000):
        ticket_sla_recompute(ticket_id=ticket_id)
        count += 1
    return count


# --- policy writes ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PolicyInput:
    name: str
    position: int | None
    conditions: object
    calendar_id: int | None
    targets: object
    pause_on: object
    pause_targets: object
    active: bool = True


def _clean_policy(data: PolicyInput, *, instance: SlaPolicy | None) -> dict[str, Any]:
    name = (data.name or "").strip()
    if not name:
        raise SlaPolicyError("A policy needs a name.", field="name")
    same_name = SlaPolicy.objects.filter(name=name)
    if instance is not None:
        same_name = same_name.exclude(pk=instance.pk)
    if same_name.exists():
        raise SlaPolicyError(f"A policy named {name!r} exists already.", field="name")
    fields: dict[str, Any] = {"name": name[:100], "active": data.active}
    field = "conditions"
    try:
        conditions = parse_conditions(data.conditions)
        field = "targets"
        targets = parse_targets(data.targets)
        field = "pause_on"
        pause_on = parse_pause_on(data.pause_on)
        field = "pause_targets"
        pause_targets = parse_pause_targets(data.pause_targets)
    except SlaError as exc:
        raise SlaPolicyError(str(exc), field=field) from exc
    fields["conditions"] = conditions
    fields["targets"] = targets_to_json(targets)
    fields["pause_on"] = sorted(pause_on)
    fields["pause_targets"] = sorted(m.value for m in pause_targets)
    if data.calendar_id is not None and not Calendar.objects.filter(pk=data.calendar_id).exists():
        raise SlaPolicyError(f"No calendar with id {data.calendar_id}.", field="calendar")
    fields["calendar_id"] = data.calendar_id
    if data.position is not None:
        if data.position < 0:
            raise SlaPolicyError("The position cannot be negative.", field="position")
        fields["position"] = data.position
    return fields


def _after_policy_change() -> None:
    from .tasks import sla_recompute_open

    transaction.on_commit(lambda: sla_recompute_open.delay(), robust=True)


@transaction.atomic
def sla_policy_create(*, data: PolicyInput) -> SlaPolicy:
    fields = _clean_policy(data, instance=None)
    if "position" not in fields:
        top = SlaPolicy.objects.aggregate(top=Max("position"))["top"]
        fields["position"] = 0 if top is None else top + 1
    policy = SlaPolicy.objects.create(**fields)
    _after_policy_change()
    return policy


@transaction.atomic
def sla_policy_update(*, policy: SlaPolicy, data: PolicyInput) -> SlaPolicy:
    policy = SlaPolicy.objects.select_for_update().get(pk=policy.pk)
    fields = _clean_policy(data, instance=policy)
    for key, value in fields.items():
        setattr(policy, key, value)
    policy.updated_at = timezone.now()
    policy.save(update_fields=[*fields, "updated_at"])
    _after_policy_change()
    return policy


@transaction.atomic
def sla_policy_delete(*, policy: SlaPolicy) -> None:
    policy.delete()
    _after_policy_change()


@transaction.atomic
def sla_policy_move(*, policy: SlaPolicy, offset: int) -> list[SlaPolicy]:
    """Move a policy up (-1) or down (+1) in the order; positions come out 0, 1, 2, ..."""
    ordered = list(SlaPolicy.objects.select_for_update().order_by("position", "id"))
    index = next(i for i, p in enumerate(ordered) if p.pk == policy.pk)
    target = max(0, min(len(ordered) - 1, index + offset))
    ordered.insert(target, ordered.pop(index))
    for position, item in enumerate(ordered):
        if item.position != position:
            item.position = position
            item.save(update_fields=["position"])
    _after_policy_change()
    return ordered


def priority_value(name: str) -> int:
    return PRIORITY_VALUES[name]

"""The SLA engine: a ticket's targets as one pure function of (policy, calendar, timeline).

No database, no settings, no clock: `sla_replay(policy, spec, entries)` folds the entries
into an `SlaState` with `SlaState.apply`, and `SlaState.results(now)` reads each target off
it. The live path and a replay of imported history run the same code; a state can be saved
(`to_json`) between entries and picked up later (`from_json`) with the same outcome.

The rules, exactly:
- Every target is a clock measured in business time of the calendar (or plain calendar time
  when the spec is `None`). Its due instant is when the business time it has run reaches the
  target; a target met at or before that instant is achieved, otherwise it is breached AT the
  due instant (never later, whenever somebody looks).
- first_reply runs from the ticket's opening until the first agent public reply.
- next_reply runs only once a first reply went out: from the oldest customer message that no
  agent reply has answered yet, until the next agent reply. Each such wait is one cycle.
- periodic_update (optional) runs from each agent public reply until the next one.
- resolution runs from the opening until the ticket is solved (or closed).
- While no reply has gone out, first_reply is the only response target: next_reply and
  periodic_update do not start, whatever the customer writes (Zammad #5177).
- Automatic messages, internal notes, bot answers and anything else of kind `Other` change
  nothing: they are not agent replies.
- A status in the policy's `pause_on` pauses the metrics in `pause_targets` (resolution by
  default); leaving it resumes them with the time already used.
- Solving stops every running target: resolution is achieved, a running next_reply or
  periodic_update cycle is dropped (unless it had breached already), first_reply waits.
  Reopening resumes first_reply and resolution with the time already used, and starts a
  next_reply cycle when a customer message is still unanswered.
- A priority change recomputes every unfinished target's due from its start with the new
  priority's target; a breach that already happened stays.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from .calendars import CalendarSpec, add_business_time, business_time_between


class SlaError(ValueError):
    """A policy or timeline the engine cannot use; the message is fit to show."""


class Metric(StrEnum):
    FIRST_REPLY = "first_reply"
    NEXT_REPLY = "next_reply"
    PERIODIC_UPDATE = "periodic_update"
    RESOLUTION = "resolution"


PRIORITIES: tuple[str, ...] = ("low", "normal", "high", "urgent")
ACTIVE_STATUSES: frozenset[str] = frozenset({"new", "open", "pending", "on_hold"})
STATUSES: frozenset[str] = ACTIVE_STATUSES | {"solved", "closed"}
DEFAULT_PAUSE_ON: tuple[str, ...] = ("pending", "on_hold")
DEFAULT_PAUSE_TARGETS: tuple[Metric, ...] = (Metric.RESOLUTION,)
MAX_TARGET_MINUTES = 10 * 366 * 24 * 60
_CYCLIC = (Metric.NEXT_REPLY, Metric.PERIODIC_UPDATE)


# --- the policy ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Targets:
    """Minutes per metric for one priority; `None` means no such target."""

    first_reply: int | None = None
    next_reply: int | None = None
    periodic_update: int | None = None
    resolution: int | None = None

    def minutes(self, metric: Metric) -> int | None:
        value: int | None = getattr(self, metric.value)
        return value


@dataclass(frozen=True, slots=True)
class SlaPolicySpec:
    """What the engine needs of a policy: targets per priority name and what pauses."""

    targets: Mapping[str, Targets]
    pause_on: frozenset[str] = frozenset(DEFAULT_PAUSE_ON)
    pause_targets: frozenset[Metric] = frozenset(DEFAULT_PAUSE_TARGETS)

    def minutes(self, priority: str, metric: Metric) -> int | None:
        targets = self.targets.get(priority)
        return targets.minutes(metric) if targets is not None else None


def parse_targets(data: object) -> dict[str, Targets]:
    """`{"urgent": {"first_reply": 15, ...}, ...}` → targets, or an `SlaError` that says what
    is wrong (unknown priority or metric, a minute count that is not a positive integer)."""
    if not isinstance(data, Mapping):
        raise SlaError('Targets must be an object such as {"urgent": {"first_reply": 15}}.')
    parsed: dict[str, Targets] = {}
    for priority, metrics in data.items():
        if priority not in PRIORITIES:
            raise SlaError(f"Unknown priority {priority!r}: use one of {', '.join(PRIORITIES)}.")
        if not isinstance(metrics, Mapping):
            raise SlaError(f"{priority}: the targets must be an object of metric → minutes.")
        values: dict[str, int | None] = {}
        for name, minutes in metrics.items():
            if name not in Metric._value2member_map_:
                known = ", ".join(m.value for m in Metric)
                raise SlaError(f"{priority}: unknown target {name!r}: use {known}.")
            if minutes is None:
                values[name] = None
                continue
            if isinstance(minutes, bool) or not isinstance(minutes, int):
                raise SlaError(f"{priority}.{name}: minutes must be a whole number.")
            if not 0 < minutes <= MAX_TARGET_MINUTES:
                raise SlaError(
                    f"{priority}.{name}: minutes must be between 1 and {MAX_TARGET_MINUTES}."
                )
            values[name] = minutes
        parsed[priority] = Targets(**values)
    return parsed


def targets_to_json(targets: Mapping[str, Targets]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for priority in PRIORITIES:
        if priority in targets:
            row = {m.value: v for m in Metric if (v := targets[priority].minutes(m)) is not None}
            out[priority] = row
    return out


def parse_pause_on(data: object) -> frozenset[str]:
    if not isinstance(data, list | tuple) or not all(isinstance(s, str) for s in data):
        raise SlaError('pause_on must be a list of statuses such as ["pending", "on_hold"].')
    for status in data:
        if status not in ACTIVE_STATUSES - {"new", "open"}:
            raise SlaError(f"pause_on: {status!r} cannot pause targets; use pending or on_hold.")
    return frozenset(data)


def parse_pause_targets(data: object) -> frozenset[Metric]:
    if not isinstance(data, list | tuple) or not all(isinstance(s, str) for s in data):
        raise SlaError('pause_targets must be a list of targets such as ["resolution"].')
    for name in data:
        if name not in Metric._value2member_map_:
            raise SlaError(f"pause_targets: unknown target {name!r}.")
    return frozenset(Metric(name) for name in data)


# --- the timeline -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Opened:
    at: datetime
    priority: str


@dataclass(frozen=True, slots=True)
class CustomerMessage:
    at: datetime


@dataclass(frozen=True, slots=True)
class AgentReply:
    """A public reply a person on the desk wrote (not automatic, not a bot, not a note)."""

    at: datetime


@dataclass(frozen=True, slots=True)
class StatusChange:
    at: datetime
    to: str


@dataclass(frozen=True, slots=True)
class PriorityChange:
    at: datetime
    to: str


@dataclass(frozen=True, slots=True)
class Other:
    """Something that happened and counts for nothing: "automatic", "note", "bot", ..."""

    at: datetime
    kind: str


Entry = Opened | CustomerMessage | AgentReply | StatusChange | PriorityChange | Other


# --- the state ----------------------------------------------------------------------------------


@dataclass(slots=True)
class Clock:
    """One target's clock: the stretches it ran, and how it ended."""

    metric: Metric
    minutes: int | None
    started_at: datetime
    runs: list[list[datetime | None]] = field(default_factory=list)  # [start, end or None]
    completed_at: datetime | None = None
    breached_at: datetime | None = None

    @property
    def running(self) -> bool:
        return self.completed_at is None and bool(self.runs) and self.runs[-1][1] is None

    @property
    def finished(self) -> bool:
        return self.completed_at is not None

    def start_run(self, at: datetime) -> None:
        if not self.running and not self.finished:
            self.runs.append([at, None])

    def stop_run(self, at: datetime) -> None:
        if self.running:
            self.runs[-1][1] = at

    def due_at(self, spec: CalendarSpec) -> datetime | None:
        """When the business time run reaches the target; None while paused short of it (a
        met target keeps the due it had when it was met)."""
        if self.minutes is None:
            return None
        remaining = timedelta(minutes=self.minutes)
        for start, end in self.runs:
            assert start is not None
            if end is None:
                return add_business_time(spec, start, remaining)
            used = business_time_between(spec, start, end)
            if used >= remaining:
                return add_business_time(spec, start, remaining)
            remaining -= used
        if self.completed_at is not None and self.runs:
            # met while it ran: the due it had then
            last_end = self.runs[-1][1]
            assert last_end is not None
            return add_business_time(spec, last_end, remaining)
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric.value,
            "minutes": self.minutes,
            "started_at": self.started_at.isoformat(),
            "runs": [
                [s.isoformat() if s else None, e.isoformat() if e else None] for s, e in self.runs
            ],
            "completed_at": _iso(self.completed_at),
            "breached_at": _iso(self.breached_at),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Clock:
        return cls(
            metric=Metric(data["metric"]),
            minutes=data["minutes"],
            started_at=datetime.fromisoformat(data["started_at"]),
            runs=[[_dt(s), _dt(e)] for s, e in data["runs"]],
            completed_at=_dt(data["completed_at"]),
            breached_at=_dt(data["breached_at"]),
        )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


@dataclass(frozen=True, slots=True)
class TargetResult:
    metric: Metric
    cycle: int  # 0 for first_reply and resolution; 1, 2, ... for each next_reply/update wait
    due_at: datetime | None
    completed_at: datetime | None
    breached: bool
    breached_at: datetime | None
    paused: bool
    running: bool


@dataclass(slots=True)
class SlaState:
    """Everything the engine remembers of a ticket so far. `apply` entries in time order."""

    policy: SlaPolicySpec
    spec: CalendarSpec | None
    opened: bool = False
    last_at: datetime | None = None
    status: str = "new"
    priority: str = "normal"
    replied: bool = False
    unanswered_since: datetime | None = None
    clocks: list[Clock] = field(default_factory=list)

    @property
    def calendar(self) -> CalendarSpec:
        return self.spec if self.spec is not None else _ALWAYS

    # -- reading --

    def _current(self, metric: Metric) -> Clock | None:
        for clock in reversed(self.clocks):
            if clock.metric == metric:
                return clock
        return None

    def _open_cycle(self, metric: Metric) -> Clock | None:
        clock = self._current(metric)
        return clock if clock is not None and not clock.finished else None

    def _paused(self, metric: Metric) -> bool:
        return self.status in self.policy.pause_on and metric in self.policy.pause_targets

    def _may_run(self, metric: Metric) -> bool:
        return self.status in ACTIVE_STATUSES and not self._paused(metric)

    def results(self, now: datetime | None = None) -> list[TargetResult]:
        """Each target as it stands; with `now`, a running target past its due is breached."""
        out: list[TargetResult] = []
        cycles: dict[Metric, int] = {}
        for clock in self.clocks:
            cycle = 0
            if clock.metric in _CYCLIC:
                cycle = cycles[clock.metric] = cycles.get(clock.metric, 0) + 1
            due = clock.due_at(self.calendar)
            breached_at = clock.breached_at
            if breached_at is None and due is not None:
                if clock.completed_at is not None and clock.completed_at > due:
                    breached_at = due
                elif not clock.finished and now is not None and due < now:
                    breached_at = due
            out.append(
                TargetResult(
                    metric=clock.metric,
                    cycle=cycle,
                    due_at=due,
                    completed_at=clock.completed_at,
                    breached=breached_at is not None,
                    breached_at=breached_at,
                    paused=not clock.running and not clock.finished,
                    running=clock.running,
                )
            )
        return out

    # -- writing --

    def apply(self, entry: Entry) -> None:
        """Move the state past one entry. Entries must come in time order, `Opened` first."""
        if self.last_at is not None and entry.at < self.last_at:
            raise SlaError(f"Timeline out of order: {entry.at} after {self.last_at}.")
        if entry.at.tzinfo is None:
            raise SlaError(f"Timeline instant {entry.at} has no timezone.")
        if not self.opened and not isinstance(entry, Opened):
            raise SlaError("A timeline starts with the ticket's opening.")
        self._breach_until(entry.at)
        self.last_at = entry.at
        match entry:
            case Opened():
                self._open(entry)
            case CustomerMessage():
                self._customer(entry.at)
            case AgentReply():
                self._reply(entry.at)
            case StatusChange():
                self._status(entry.at, entry.to)
            case PriorityChange():
                self._priority(entry.to)
            case Other():
                pass

    def _breach_until(self, at: datetime) -> None:
        """Targets still running past their due breached at that due instant."""
        for clock in self.clocks:
            if not clock.finished and clock.breached_at is None:
                due = clock.due_at(self.calendar)
                if due is not None and due < at:
                    clock.breached_at = due

    def _new_clock(self, metric: Metric, at: datetime) -> Clock | None:
        clock = Clock(
            metric=metric, minutes=self.policy.minutes(self.priority, metric), started_at=at
        )
        if metric in _CYCLIC and clock.minutes is None:
            return None  # no such target for this priority: no cycle to track
        self.clocks.append(clock)
        if self._may_run(metric):
            clock.start_run(at)
        return clock

    def _open(self, entry: Opened) -> None:
        if self.opened:
            raise SlaError("A timeline has one opening.")
        if entry.priority not in PRIORITIES:
            raise SlaError(f"Unknown priority {entry.priority!r}.")
        self.opened = True
        self.priority = entry.priority
        self._new_clock(Metric.FIRST_REPLY, entry.at)
        self._new_clock(Metric.RESOLUTION, entry.at)

    def _customer(self, at: datetime) -> None:
        if self.unanswered_since is None:
            self.unanswered_since = at
        if self.replied and self.status in ACTIVE_STATUSES:
            if self._open_cycle(Metric.NEXT_REPLY) is None:
                self._new_clock(Metric.NEXT_REPLY, at)

    def _reply(self, at: datetime) -> None:
        self.unanswered_since = None
        for metric in (Metric.FIRST_REPLY, Metric.NEXT_REPLY, Metric.PERIODIC_UPDATE):
            clock = self._open_cycle(metric) if metric in _CYCLIC else self._current(metric)
            if clock is not None and not clock.finished:
                clock.stop_run(at)
                clock.completed_at = at
        self.replied = True
        if self.status in ACTIVE_STATUSES:
            self._new_clock(Metric.PERIODIC_UPDATE, at)

    def _status(self, at: datetime, to: str) -> None:
        if to not in STATUSES:
            raise SlaError(f"Unknown status {to!r}.")
        was_active = self.status in ACTIVE_STATUSES
        self.status = to
        if to not in ACTIVE_STATUSES:
            self._solve(at)
            return
        for clock in self.clocks:
            if clock.finished or (
                clock.metric in _CYCLIC and clock is not self._open_cycle(clock.metric)
            ):
                continue
            if self._may_run(clock.metric):
                clock.start_run(at)
            else:
                clock.stop_run(at)
        if not was_active:
            self._reopen(at)

    def _solve(self, at: datetime) -> None:
        self.unanswered_since = None
        for clock in list(self.clocks):
            if clock.finished:
                continue
            clock.stop_run(at)
            if clock.metric == Metric.RESOLUTION:
                clock.completed_at = at
            elif clock.metric in _CYCLIC and clock.breached_at is None:
                self.clocks.remove(clock)  # a wait the solve ended: neither met nor missed

    def _reopen(self, at: datetime) -> None:
        resolution = self._current(Metric.RESOLUTION)
        if resolution is not None and resolution.completed_at is not None:
            resolution.completed_at = None
            if self._may_run(Metric.RESOLUTION):
                resolution.start_run(at)
        if self.replied:
            if self.unanswered_since is not None and self._open_cycle(Metric.NEXT_REPLY) is None:
                self._new_clock(Metric.NEXT_REPLY, at)
            if self._open_cycle(Metric.PERIODIC_UPDATE) is None:
                self._new_clock(Metric.PERIODIC_UPDATE, at)

    def _priority(self, to: str) -> None:
        if to not in PRIORITIES:
            raise SlaError(f"Unknown priority {to!r}.")
        self.priority = to
        for clock in self.clocks:
            if not clock.finished:
                clock.minutes = self.policy.minutes(to, clock.metric)

    # -- saving --

    def to_json(self) -> dict[str, Any]:
        return {
            "opened": self.opened,
            "last_at": _iso(self.last_at),
            "status": self.status,
            "priority": self.priority,
            "replied": self.replied,
            "unanswered_since": _iso(self.unanswered_since),
            "clocks": [clock.to_json() for clock in self.clocks],
        }

    @classmethod
    def from_json(
        cls, data: Mapping[str, Any], *, policy: SlaPolicySpec, spec: CalendarSpec | None
    ) -> SlaState:
        return cls(
            policy=policy,
            spec=spec,
            opened=data["opened"],
            last_at=_dt(data["last_at"]),
            status=data["status"],
            priority=data["priority"],
            replied=data["replied"],
            unanswered_since=_dt(data["unanswered_since"]),
            clocks=[Clock.from_json(c) for c in data["clocks"]],
        )


_ALWAYS = CalendarSpec.always_open()


def sla_replay(
    policy: SlaPolicySpec, spec: CalendarSpec | None, entries: Iterable[Entry]
) -> SlaState:
    """The state after every entry, applied in order (the one-shot path)."""
    state = SlaState(policy=policy, spec=spec)
    for entry in entries:
        state.apply(entry)
    return state


def sla_results(
    policy: SlaPolicySpec,
    spec: CalendarSpec | None,
    entries: Iterable[Entry],
    *,
    now: datetime | None = None,
) -> list[TargetResult]:
    return sla_replay(policy, spec, entries).results(now)


def next_due(results: Iterable[TargetResult], *, unbreached: bool = False) -> datetime | None:
    """The soonest due of the running targets (only those not yet breached, if asked)."""
    dues = [
        r.due_at
        for r in results
        if r.running and r.due_at is not None and not (unbreached and r.breached)
    ]
    return min(dues) if dues else None

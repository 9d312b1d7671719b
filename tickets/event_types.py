"""The typed payload of each kind of ticket event, validated before it is written.

One frozen dataclass per `TicketEvent.Kind`. `payload_for(kind, value)` turns a dataclass
instance or a plain dict (what is stored as JSON) into the kind's dataclass, raising
`InvalidPayload` on a wrong type, a missing or unknown key, or a value the kind does not allow.
`payload_json(kind, value)` gives what is stored. Readers (SLA, reports, the activity panel)
call `payload_of(event)` to get the dataclass back.

Ids in payloads: `message` is a Message id; tickets are named by their `number`; `old`/`new`
of assignee and group are user and group ids (None for nobody / no group).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin

from .models import ActorKind as ActorKind
from .models import TicketEvent

EventKind = TicketEvent.Kind


class InvalidEvent(ValueError):
    """An event that cannot be written as given."""


class InvalidPayload(InvalidEvent):
    """A payload that does not fit its event kind."""


STATUSES = ("new", "open", "pending", "on_hold", "solved", "closed")
PRIORITIES = (1, 2, 3, 4)


@dataclass(frozen=True)
class Created:
    channel: str
    subject: str
    message: int | None = None  # the first message, when it came with the ticket


@dataclass(frozen=True)
class CustomerMessage:
    message: int
    channel: str
    flag: str = ""  # why an agent should look twice (a stranger on the thread)
    automatic: bool = False  # an auto-reply or bounce from the customer's side


@dataclass(frozen=True)
class AgentReply:
    message: int
    channel: str


@dataclass(frozen=True)
class BotReply:
    message: int
    channel: str


@dataclass(frozen=True)
class AutoMessage:
    message: int
    channel: str
    purpose: str = ""  # "acknowledgement", a trigger's name, ...


@dataclass(frozen=True)
class Call:
    direction: Literal["inbound", "outbound"]
    duration_seconds: int
    notes: str
    agent: int

    def check(self) -> None:
        if not 0 <= self.duration_seconds <= 24 * 3600:
            raise InvalidPayload("a call lasts between 0 seconds and a day")


@dataclass(frozen=True)
class Note:
    message: int
    call: Call | None = None


@dataclass(frozen=True)
class StatusChange:
    old: str | None
    new: str
    reason: str = ""  # "customer replied", "merged", "assigned", ...

    def check(self) -> None:
        for value in (self.old, self.new):
            if value is not None and value not in STATUSES:
                raise InvalidPayload(f"unknown status {value!r}")


@dataclass(frozen=True)
class PriorityChange:
    old: int | None
    new: int

    def check(self) -> None:
        for value in (self.old, self.new):
            if value is not None and value not in PRIORITIES:
                raise InvalidPayload(f"unknown priority {value!r}")


@dataclass(frozen=True)
class AssigneeChange:
    old: int | None
    new: int | None


@dataclass(frozen=True)
class GroupChange:
    old: int | None
    new: int | None


@dataclass(frozen=True)
class TagsChange:
    old: list[str]
    new: list[str]


@dataclass(frozen=True)
class SubjectChange:
    old: str
    new: str


@dataclass(frozen=True)
class Merged:
    """Written on both tickets: the event's ticket is `source` or `target` (numbers)."""

    source: int
    target: int
    messages: int = 0


@dataclass(frozen=True)
class ContactChange:
    old: int | None
    new: int
    reason: str = ""


@dataclass(frozen=True)
class Delivery:
    message: int
    status: str  # sent, delivered, read, delayed, failed
    detail: str = ""


@dataclass(frozen=True)
class FollowUp:
    """Written on both tickets: `previous` (closed) was followed up by `next` (numbers)."""

    previous: int
    next: int


@dataclass(frozen=True)
class Csat:
    rating: int
    comment: str = ""

    def check(self) -> None:
        if not 1 <= self.rating <= 5:
            raise InvalidPayload("a CSAT rating is between 1 and 5")


SLA_METRICS = ("first_reply", "next_reply", "periodic_update", "resolution")


@dataclass(frozen=True)
class SlaMilestone:
    """A target met (`sla_achieved`) or missed (`sla_breached`): which one, which wait of it
    (`cycle`: next reply and periodic update run once per wait) and when it was due."""

    metric: str
    cycle: int = 1
    due_at: str | None = None  # ISO 8601

    def check(self) -> None:
        if self.metric not in SLA_METRICS:
            raise InvalidPayload(f"unknown SLA metric {self.metric!r}")


@dataclass(frozen=True)
class RuleAction:
    """What an automation rule did (one event per action, keyed so it happens once).

    `cause` is the ticket event that fired a trigger (None for a time automation); `chain`
    the rule ids fired before it in the same chain of triggers."""

    rule: int
    rule_name: str
    action: str
    detail: str = ""
    cause: int | None = None
    chain: list[int] = dataclasses.field(default_factory=list)
    error: str = ""  # the action could not be done (a rule no longer fits the ticket)


PAYLOAD_TYPES: dict[str, type[Any]] = {
    EventKind.CREATED: Created,
    EventKind.MESSAGE: CustomerMessage,
    EventKind.REPLY: AgentReply,
    EventKind.BOT_REPLY: BotReply,
    EventKind.AUTO_MESSAGE: AutoMessage,
    EventKind.NOTE: Note,
    EventKind.STATUS: StatusChange,
    EventKind.PRIORITY: PriorityChange,
    EventKind.ASSIGNEE: AssigneeChange,
    EventKind.GROUP: GroupChange,
    EventKind.TAGS: TagsChange,
    EventKind.SUBJECT: SubjectChange,
    EventKind.MERGED: Merged,
    EventKind.CONTACT: ContactChange,
    EventKind.DELIVERY: Delivery,
    EventKind.FOLLOW_UP: FollowUp,
    EventKind.CSAT: Csat,
    EventKind.SLA_ACHIEVED: SlaMilestone,
    EventKind.SLA_BREACHED: SlaMilestone,
    EventKind.AUTOMATION: RuleAction,
}


def payload_for(kind: str, value: Any) -> Any:
    """The kind's payload dataclass for `value` (an instance of it, or a dict), validated."""
    cls = PAYLOAD_TYPES.get(kind)
    if cls is None:
        raise InvalidPayload(f"unknown event kind {kind!r}")
    if isinstance(value, cls):
        return _build(cls, dataclasses.asdict(value), kind)
    if dataclasses.is_dataclass(value):
        raise InvalidPayload(f"a {kind} event takes a {cls.__name__}, not {type(value).__name__}")
    if not isinstance(value, dict):
        raise InvalidPayload(f"a {kind} payload is an object, not {type(value).__name__}")
    return _build(cls, value, kind)


def payload_of(event: TicketEvent) -> Any:
    """A stored event's payload as its kind's dataclass."""
    return payload_for(event.kind, event.payload)


def payload_json(kind: str, value: Any) -> dict[str, Any]:
    """What is stored for this payload (validated first)."""
    return dataclasses.asdict(payload_for(kind, value))


def _build(cls: type[Any], data: dict[str, Any], where: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(fields)
    if unknown:
        raise InvalidPayload(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, field in fields.items():
        if name not in data:
            if (
                field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING
            ):
                raise InvalidPayload(f"{where}: {name} is required")
            continue
        values[name] = _coerce(hints[name], data[name], f"{where}.{name}")
    built = cls(**values)
    check = getattr(built, "check", None)
    if check is not None:
        check()
    return built


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        options = get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(option, value, where)
            except InvalidPayload as exc:
                errors.append(str(exc))
        raise InvalidPayload(errors[0] if errors else f"{where}: wrong type")
    if origin is Literal:
        if value not in get_args(hint):
            raise InvalidPayload(f"{where}: {value!r} is not one of {get_args(hint)}")
        return value
    if origin is list:
        (item,) = get_args(hint)
        if not isinstance(value, list | tuple):
            raise InvalidPayload(f"{where}: a list is expected")
        return [_coerce(item, v, f"{where}[]") for v in value]
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            value = dataclasses.asdict(value)
        if not isinstance(value, dict):
            raise InvalidPayload(f"{where}: an object is expected")
        return _build(hint, value, where)
    if hint is bool:
        if not isinstance(value, bool):
            raise InvalidPayload(f"{where}: true or false is expected")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidPayload(f"{where}: a whole number is expected")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise InvalidPayload(f"{where}: a string is expected")
        return value
    raise InvalidPayload(f"{where}: unsupported type {hint!r}")  # a mistake in this module


def legacy_old_new(kind: str, payload: dict[str, Any]) -> tuple[Any, Any]:
    """The (old, new) pair the API showed before payloads were typed: a change kind's
    old and new values, otherwise no old value and the whole payload as new."""
    if kind in CHANGE_KINDS:
        return payload.get("old"), payload.get("new")
    return None, payload


CHANGE_KINDS = frozenset(
    {
        EventKind.STATUS,
        EventKind.PRIORITY,
        EventKind.ASSIGNEE,
        EventKind.GROUP,
        EventKind.TAGS,
        EventKind.SUBJECT,
    }
)

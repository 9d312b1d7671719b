"""The history import format (`import_history FILE.jsonl`): one past ticket per JSON line.

Pure parsing and validation, no database: `parse_line(text)` and `parse_record(obj)` turn a
line (or the dict it decodes to) into an `ImportedTicket`, or raise `InvalidLine` whose message
says what is wrong in words a person migrating a help desk can act on. Names the database must
resolve (agents by email, groups by name) are only checked for shape here; the service
(`tickets.services.imports`) resolves them.

A line:

    {"external_id": "zd-1042", "subject": "...", "channel": "email", "priority": "high",
     "group": "Billing", "contact": {"email": "a@example.com", "name": "A"},
     "organisation": "Acme", "tags": ["refund"],
     "events": [{"at": "2026-03-02T16:30:00+01:00", "kind": "customer_message", "text": "..."},
                ...]}

Required: `external_id`, `subject`, `contact` (with `email`), `events` (the first one the
customer's message that opened the ticket). Every `at` carries its UTC offset and no event is
earlier than the one before it. Keys the format does not know are ignored, so an export may
carry more than is imported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

CHANNELS = ("email", "chat", "telegram", "whatsapp", "messenger", "sms", "phone", "web", "api")
STATUSES = ("new", "open", "pending", "on_hold", "solved", "closed")
PRIORITIES = {"low": 1, "normal": 2, "high": 3, "urgent": 4}
EVENT_KINDS = (
    "customer_message",
    "agent_reply",
    "note",
    "status",
    "priority",
    "assign",
    "group",
    "auto_message",
    "bot_reply",
    "csat",
)
# dedupe keys `import:<external_id>:<index>` must stay within 200 characters
MAX_EXTERNAL_ID_IN_KEYS = 150


class InvalidLine(ValueError):
    """A line that cannot be imported; the message says why."""

    external_id: str = ""


@dataclass(frozen=True)
class ImportedEvent:
    """One thing that happened. Which fields are set depends on `kind`:
    text (customer_message, agent_reply, note, auto_message, bot_reply), agent (agent_reply,
    note, assign; None on assign unassigns), status (status), priority (priority),
    group (group; None leaves no group), rating and comment (csat)."""

    at: datetime
    kind: str
    text: str = ""
    agent: str | None = None
    status: str = ""
    priority: int = 0
    group: str | None = None
    rating: int = 0
    comment: str = ""


@dataclass(frozen=True)
class ImportedContact:
    email: str
    name: str = ""


@dataclass(frozen=True)
class ImportedTicket:
    external_id: str
    subject: str
    contact: ImportedContact
    events: tuple[ImportedEvent, ...]
    channel: str = "email"
    priority: int = 2
    group: str | None = None
    organisation: str | None = None
    tags: tuple[str, ...] = ()

    @property
    def agents(self) -> set[str]:
        """Every agent email the history names (lowercase)."""
        return {e.agent for e in self.events if e.agent}

    @property
    def groups(self) -> set[str]:
        """Every group name the history names."""
        names = {e.group for e in self.events if e.kind == "group" and e.group}
        if self.group:
            names.add(self.group)
        return names


def parse_line(text: str) -> ImportedTicket:
    """One JSONL line as an `ImportedTicket`; raises `InvalidLine`."""
    if not text.strip():
        raise InvalidLine("empty line")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidLine(f"invalid JSON ({exc.msg} at column {exc.colno})") from exc
    return parse_record(data)


def parse_record(data: Any) -> ImportedTicket:
    """A decoded line (a dict) as an `ImportedTicket`; raises `InvalidLine` (with the line's
    `external_id` when it has a usable one, for the report)."""
    try:
        return _record(data)
    except InvalidLine as exc:
        if isinstance(data, dict) and isinstance(data.get("external_id"), str):
            exc.external_id = data["external_id"].strip()[:MAX_EXTERNAL_ID_IN_KEYS]
        raise


def _record(data: Any) -> ImportedTicket:
    if not isinstance(data, dict):
        raise InvalidLine(f"a line is a JSON object, not {_json_type(data)}")
    external_id = _string(data, "external_id", required=True).strip()
    if not external_id:
        raise InvalidLine("external_id is empty")
    if len(external_id) > MAX_EXTERNAL_ID_IN_KEYS:
        raise InvalidLine(f"external_id is longer than {MAX_EXTERNAL_ID_IN_KEYS} characters")
    subject = _string(data, "subject", required=True)
    channel = _string(data, "channel") or "email"
    if channel not in CHANNELS:
        raise InvalidLine(f"unknown channel {channel!r} (one of {', '.join(CHANNELS)})")
    priority = _priority(data.get("priority"), "priority") if "priority" in data else 2
    group = _optional_name(data, "group", limit=100)
    organisation = _optional_name(data, "organisation", limit=200)
    tags = data.get("tags", [])
    if tags is None:
        tags = []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise InvalidLine("tags is a list of strings")
    contact = _contact(data.get("contact"))
    raw_events = data.get("events")
    if raw_events is None:
        raise InvalidLine("events is missing")
    if not isinstance(raw_events, list) or not raw_events:
        raise InvalidLine("events is a non-empty list")
    events = tuple(_event(raw, index) for index, raw in enumerate(raw_events, start=1))
    if events[0].kind != "customer_message":
        raise InvalidLine(
            f"event 1 must be the customer_message that opened the ticket, not {events[0].kind!r}"
        )
    for index in range(1, len(events)):
        if events[index].at < events[index - 1].at:
            raise InvalidLine(
                f"events out of order: event {index + 1} ({events[index].at.isoformat()}) is "
                f"earlier than event {index} ({events[index - 1].at.isoformat()})"
            )
    return ImportedTicket(
        external_id=external_id,
        subject=subject,
        contact=contact,
        events=events,
        channel=channel,
        priority=priority,
        group=group,
        organisation=organisation,
        tags=tuple(tags),
    )


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def _string(data: dict[str, Any], key: str, *, required: bool = False, where: str = "") -> str:
    label = f"{where}{key}"
    if key not in data or data[key] is None:
        if required:
            raise InvalidLine(f"{label} is missing")
        return ""
    value = data[key]
    if not isinstance(value, str):
        raise InvalidLine(f"{label} is a string, not {_json_type(value)}")
    return value


def _optional_name(
    data: dict[str, Any], key: str, *, where: str = "", limit: int = 100
) -> str | None:
    value = _string(data, key, where=where).strip()
    if len(value) > limit:
        raise InvalidLine(f"{where}{key} is longer than {limit} characters")
    return value or None


def _priority(value: Any, label: str) -> int:
    if isinstance(value, str) and value.lower() in PRIORITIES:
        return PRIORITIES[value.lower()]
    if isinstance(value, int) and not isinstance(value, bool) and value in PRIORITIES.values():
        return value
    raise InvalidLine(f"{label}: unknown priority {value!r} (one of {', '.join(PRIORITIES)})")


def _contact(value: Any) -> ImportedContact:
    if value is None:
        raise InvalidLine("contact is missing")
    if not isinstance(value, dict):
        raise InvalidLine(f"contact is an object, not {_json_type(value)}")
    email = _string(value, "email", required=True, where="contact.").strip()
    if "@" not in email:
        raise InvalidLine(f"contact.email {email!r} is not an email address")
    return ImportedContact(email=email, name=_string(value, "name", where="contact.").strip())


def _timestamp(value: Any, label: str) -> datetime:
    if value is None:
        raise InvalidLine(f"{label}.at is missing")
    if not isinstance(value, str):
        raise InvalidLine(f"{label}.at is a string, not {_json_type(value)}")
    try:
        at = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidLine(f"{label}.at {value!r} is not an ISO 8601 time") from exc
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidLine(f"{label}.at {value!r} has no UTC offset (write +01:00 or Z)")
    return at


def _text(data: dict[str, Any], label: str) -> str:
    text = _string(data, "text", required=True, where=f"{label}.")
    if not text.strip():
        raise InvalidLine(f"{label}.text is empty")
    return text


def _agent(data: dict[str, Any], label: str, *, required: bool) -> str | None:
    if required or data.get("agent") is not None:
        email = _string(data, "agent", required=True, where=f"{label}.").strip().lower()
        if "@" not in email or len(email) > 254:
            raise InvalidLine(f"{label}.agent {email!r} is not an agent's email address")
        return email
    return None


def _event(raw: Any, index: int) -> ImportedEvent:
    label = f"event {index}"
    if not isinstance(raw, dict):
        raise InvalidLine(f"{label} is an object, not {_json_type(raw)}")
    kind = raw.get("kind")
    if kind is None:
        raise InvalidLine(f"{label}.kind is missing")
    if kind not in EVENT_KINDS:
        raise InvalidLine(f"{label}: unknown kind {kind!r} (one of {', '.join(EVENT_KINDS)})")
    at = _timestamp(raw.get("at"), label)
    if kind in ("customer_message", "auto_message", "bot_reply"):
        return ImportedEvent(at=at, kind=kind, text=_text(raw, label))
    if kind in ("agent_reply", "note"):
        return ImportedEvent(
            at=at, kind=kind, text=_text(raw, label), agent=_agent(raw, label, required=True)
        )
    if kind == "assign":
        if "agent" not in raw:
            raise InvalidLine(f"{label}.agent is missing (null unassigns)")
        return ImportedEvent(at=at, kind=kind, agent=_agent(raw, label, required=False))
    if kind == "status":
        status = _string(raw, "to", required=True, where=f"{label}.")
        if status not in STATUSES:
            raise InvalidLine(f"{label}: unknown status {status!r} (one of {', '.join(STATUSES)})")
        return ImportedEvent(at=at, kind=kind, status=status)
    if kind == "priority":
        if raw.get("to") is None:
            raise InvalidLine(f"{label}.to is missing")
        return ImportedEvent(at=at, kind=kind, priority=_priority(raw["to"], label))
    if kind == "group":
        if "to" not in raw:
            raise InvalidLine(f"{label}.to is missing (null leaves the ticket without a group)")
        return ImportedEvent(at=at, kind=kind, group=_optional_name(raw, "to", where=f"{label}."))
    # csat
    rating = raw.get("rating")
    if rating is None:
        raise InvalidLine(f"{label}.rating is missing")
    if isinstance(rating, bool) or not isinstance(rating, int):
        raise InvalidLine(f"{label}.rating is a whole number from 1 to 5, not {rating!r}")
    if not 1 <= rating <= 5:
        raise InvalidLine(f"{label}.rating {rating} is out of range (1 to 5)")
    return ImportedEvent(
        at=at, kind=kind, rating=rating, comment=_string(raw, "comment", where=f"{label}.")
    )


@dataclass
class LineOutcome:
    """What became of one input line, as the command prints it."""

    line: int
    external_id: str = ""
    number: int | None = None
    status: str = "imported"  # imported | already imported | skipped
    reason: str = ""
    created: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if self.status == "skipped":
            who = f"{self.external_id} " if self.external_id else ""
            return f"line {self.line}: {who}skipped: {self.reason}"
        text = f"{self.external_id} → #{self.number}"
        if self.status == "already imported":
            return f"{text} (already imported)"
        if self.created:
            text += f" (created {', '.join(self.created)})"
        return text

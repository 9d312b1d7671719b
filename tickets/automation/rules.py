"""What a rule may say, parsed and checked: its events, conditions and actions.

`parse_rule` turns the stored (or submitted) JSON into typed dataclasses, raising `RuleError`
with a message for the admin on anything it cannot run. `conditions_q` turns a rule's
conditions into ONE queryset filter, so a trigger on one ticket and a dry run over all tickets
answer the same question the same way (and a time rule's query runs on an index)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..models import Group, Identity, Message, Ticket


class RuleError(ValueError):
    """A rule that cannot be run as written; the message is shown to the admin."""


# trigger event name -> label; "sla_warning"/"sla_breach" are fired by the SLA engine by name
TRIGGER_EVENTS: dict[str, Any] = {
    "ticket_created": gettext_lazy("Ticket created"),
    "customer_replied": gettext_lazy("Customer replied"),
    "agent_replied": gettext_lazy("Agent replied"),
    "status_changed": gettext_lazy("Status changed"),
    "priority_changed": gettext_lazy("Priority changed"),
    "group_changed": gettext_lazy("Group changed"),
    "assignee_changed": gettext_lazy("Assignee changed"),
    "tag_added": gettext_lazy("Tag added"),
    "sla_warning": gettext_lazy("SLA warning"),
    "sla_breach": gettext_lazy("SLA breach"),
}

# field -> (label, allowed operators)
CONDITION_FIELDS: dict[str, tuple[Any, tuple[str, ...]]] = {
    "status": (gettext_lazy("Status"), ("is", "is_not")),
    "priority": (gettext_lazy("Priority"), ("is", "is_not", "gte", "lte")),
    "channel": (gettext_lazy("Channel"), ("is", "is_not")),
    "group": (gettext_lazy("Group"), ("is", "is_not")),
    "assignee": (gettext_lazy("Assignee"), ("is", "is_not")),
    "tags": (gettext_lazy("Tags"), ("includes", "excludes")),
    "subject": (gettext_lazy("Subject"), ("contains", "not_contains")),
    "text": (gettext_lazy("Any message text"), ("contains", "not_contains")),
    "contact_email": (gettext_lazy("Contact email"), ("is", "contains", "not_contains")),
    "contact_name": (gettext_lazy("Contact name"), ("contains", "not_contains")),
    "organisation": (gettext_lazy("Organisation"), ("is", "is_not")),
    "organisation_name": (gettext_lazy("Organisation name"), ("contains", "not_contains")),
    "business_hours": (gettext_lazy("Within business hours"), ("is",)),
    "hours_since_status": (gettext_lazy("Hours in current status"), ("gte", "lte")),
    "hours_since_created": (gettext_lazy("Hours since created"), ("gte", "lte")),
    "hours_since_update": (gettext_lazy("Hours since last update"), ("gte", "lte")),
}
TIME_FIELDS = frozenset({"hours_since_status", "hours_since_created", "hours_since_update"})

OPERATORS: dict[str, Any] = {
    "is": gettext_lazy("is"),
    "is_not": gettext_lazy("is not"),
    "gte": gettext_lazy("at least"),
    "lte": gettext_lazy("at most"),
    "includes": gettext_lazy("includes"),
    "excludes": gettext_lazy("excludes"),
    "contains": gettext_lazy("contains"),
    "not_contains": gettext_lazy("does not contain"),
}

ACTION_TYPES: dict[str, Any] = {
    "set_status": gettext_lazy("Set status"),
    "set_priority": gettext_lazy("Set priority"),
    "set_group": gettext_lazy("Set group"),
    "assign": gettext_lazy("Assign to agent"),
    "add_tag": gettext_lazy("Add tag"),
    "remove_tag": gettext_lazy("Remove tag"),
    "add_note": gettext_lazy("Add internal note"),
    "send_reply": gettext_lazy("Send reply to customer (ticket's channel)"),
    "send_email": gettext_lazy("Send email to customer"),
    "notify_agents": gettext_lazy("Notify agents by email"),
    "webhook": gettext_lazy("POST signed webhook"),
}
NOTIFY_TARGETS = ("assignee", "group")


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: Any


@dataclass(frozen=True)
class Action:
    type: str
    value: Any = None  # set_*, assign, add/remove_tag, add_note (text)
    subject: str = ""  # send_reply, send_email, notify_agents
    text: str = ""
    to: str = ""  # notify_agents: assignee | group
    url: str = ""  # webhook
    secret: str = ""

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        for name in ("value", "subject", "text", "to", "url", "secret"):
            val = getattr(self, name)
            if val not in (None, ""):
                out[name] = val
        return out


@dataclass(frozen=True)
class ParsedRule:
    kind: str
    events: list[str]
    match: str
    conditions: list[Condition]
    actions: list[Action] = field(default_factory=list)


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise RuleError(_("%(what)s must be a whole number.") % {"what": what})
    try:
        return int(value)
    except (TypeError, ValueError):
        raise RuleError(_("%(what)s must be a whole number.") % {"what": what}) from None


def _optional_id(value: Any, what: str) -> int | None:
    if value in (None, "", "none"):
        return None
    return _int(value, what)


def _condition(raw: Any, n: int) -> Condition:
    if not isinstance(raw, dict):
        raise RuleError(_("Condition %(n)d is not an object.") % {"n": n})
    name, op, value = raw.get("field"), raw.get("op"), raw.get("value")
    if name not in CONDITION_FIELDS:
        raise RuleError(_("Condition %(n)d: unknown field %(f)r.") % {"n": n, "f": name})
    if op not in CONDITION_FIELDS[name][1]:
        raise RuleError(
            _("Condition %(n)d: %(f)s cannot use %(op)r.") % {"n": n, "f": name, "op": op}
        )
    where = _("Condition %(n)d") % {"n": n}
    if name == "status":
        if value not in Ticket.Status.values:
            raise RuleError(_("%(w)s: unknown status %(v)r.") % {"w": where, "v": value})
    elif name == "priority":
        value = _int(value, where)
        if value not in Ticket.Priority.values:
            raise RuleError(_("%(w)s: unknown priority %(v)r.") % {"w": where, "v": value})
    elif name == "channel":
        from ..models import Channel

        if value not in Channel.values:
            raise RuleError(_("%(w)s: unknown channel %(v)r.") % {"w": where, "v": value})
    elif name in ("group", "assignee", "organisation"):
        value = _optional_id(value, where)
    elif name == "tags":
        items = value if isinstance(value, list) else str(value or "").split(",")
        value = sorted({str(item).strip().lower() for item in items if str(item).strip()})
        if not value:
            raise RuleError(_("%(w)s: name at least one tag.") % {"w": where})
    elif name == "business_hours":
        if isinstance(value, str):
            value = value.lower() in ("true", "1", "yes")
        if not isinstance(value, bool):
            raise RuleError(_("%(w)s: true or false.") % {"w": where})
    elif name in TIME_FIELDS:
        value = _int(value, where)
        if not 0 <= value <= 24 * 366:
            raise RuleError(_("%(w)s: between 0 hours and a year.") % {"w": where})
    else:
        if not isinstance(value, str) or not value.strip():
            raise RuleError(_("%(w)s: some text is needed.") % {"w": where})
        value = value.strip()
    return Condition(field=name, op=op, value=value)


def _action(raw: Any, n: int) -> Action:
    if not isinstance(raw, dict):
        raise RuleError(_("Action %(n)d is not an object.") % {"n": n})
    kind = raw.get("type")
    if kind not in ACTION_TYPES:
        raise RuleError(_("Action %(n)d: unknown action %(t)r.") % {"n": n, "t": kind})
    unknown = set(raw) - {"type", "value", "subject", "text", "to", "url", "secret"}
    if unknown:
        raise RuleError(
            _("Action %(n)d: unknown field(s) %(f)s.") % {"n": n, "f": ", ".join(sorted(unknown))}
        )
    where = _("Action %(n)d") % {"n": n}
    value = raw.get("value")
    if kind == "set_status":
        if value not in Ticket.Status.values:
            raise RuleError(_("%(w)s: unknown status %(v)r.") % {"w": where, "v": value})
        return Action(type=kind, value=value)
    if kind == "set_priority":
        value = _int(value, where)
        if value not in Ticket.Priority.values:
            raise RuleError(_("%(w)s: unknown priority %(v)r.") % {"w": where, "v": value})
        return Action(type=kind, value=value)
    if kind in ("set_group", "assign"):
        return Action(type=kind, value=_optional_id(value, where))
    if kind in ("add_tag", "remove_tag"):
        from django.utils.text import slugify

        tag = slugify(str(value or "").strip(), allow_unicode=True)[:50]
        if not tag:
            raise RuleError(_("%(w)s: name the tag.") % {"w": where})
        return Action(type=kind, value=tag)
    if kind == "add_note":
        text = str(value or raw.get("text") or "").strip()
        if not text:
            raise RuleError(_("%(w)s: the note needs some text.") % {"w": where})
        _check_template(text, where)
        return Action(type=kind, value=text)
    if kind in ("send_reply", "send_email", "notify_agents"):
        subject = str(raw.get("subject") or "").strip()
        text = str(raw.get("text") or "").strip()
        if not text:
            raise RuleError(_("%(w)s: the message needs some text.") % {"w": where})
        _check_template(subject, where)
        _check_template(text, where)
        to = str(raw.get("to") or "")
        if kind == "notify_agents" and to not in NOTIFY_TARGETS:
            raise RuleError(_("%(w)s: notify the assignee or the group.") % {"w": where})
        return Action(type=kind, subject=subject[:300], text=text, to=to)
    # webhook
    from django.core.exceptions import ValidationError
    from django.core.validators import URLValidator

    url = str(raw.get("url") or "").strip()
    try:
        URLValidator(schemes=["https", "http"])(url)
    except ValidationError:
        raise RuleError(_("%(w)s: %(u)r is not an http(s) URL.") % {"w": where, "u": url}) from None
    secret = str(raw.get("secret") or "")
    if len(secret) < 16:
        raise RuleError(_("%(w)s: the signing secret needs at least 16 characters.") % {"w": where})
    return Action(type=kind, url=url[:500], secret=secret[:200])


def _check_template(text: str, where: str) -> None:
    from django.template import TemplateSyntaxError

    from .actions import template_engine

    try:
        template_engine().from_string(text)
    except TemplateSyntaxError as exc:
        raise RuleError(_("%(w)s: template error: %(e)s") % {"w": where, "e": exc}) from None


def parse_rule(*, kind: str, events: Any, match: str, conditions: Any, actions: Any) -> ParsedRule:
    """The rule as typed dataclasses, or `RuleError` naming the first thing wrong."""
    from .models import AutomationRule

    if kind not in AutomationRule.Kind.values:
        raise RuleError(_("Unknown rule kind %(k)r.") % {"k": kind})
    if match not in AutomationRule.Match.values:
        raise RuleError(_("Match all or any conditions."))
    if not isinstance(conditions, list) or not isinstance(actions, list):
        raise RuleError(_("Conditions and actions are lists."))
    parsed_conditions = [_condition(raw, n) for n, raw in enumerate(conditions, start=1)]
    parsed_actions = [_action(raw, n) for n, raw in enumerate(actions, start=1)]
    if not parsed_actions:
        raise RuleError(_("A rule needs at least one action."))
    event_names: list[str] = []
    if kind == AutomationRule.Kind.TRIGGER:
        if not isinstance(events, list) or not events:
            raise RuleError(_("A trigger runs on at least one event."))
        for name in events:
            if name not in TRIGGER_EVENTS:
                raise RuleError(_("Unknown trigger event %(e)r.") % {"e": name})
            if name not in event_names:
                event_names.append(name)
        if any(c.field in TIME_FIELDS for c in parsed_conditions):
            raise RuleError(_("Hours-since conditions belong to time automations."))
    else:
        # a time rule must narrow by an indexed status and a time, never scan every ticket
        if match != AutomationRule.Match.ALL:
            raise RuleError(_("A time automation matches all of its conditions."))
        if not any(c.field == "status" and c.op == "is" for c in parsed_conditions):
            raise RuleError(_("A time automation needs a condition “status is …”."))
        if not any(c.field in TIME_FIELDS and c.op == "gte" for c in parsed_conditions):
            raise RuleError(_("A time automation needs an “hours … at least” condition."))
    return ParsedRule(
        kind=kind,
        events=event_names,
        match=match,
        conditions=parsed_conditions,
        actions=parsed_actions,
    )


def parse_stored(rule: Any) -> ParsedRule:
    return parse_rule(
        kind=rule.kind,
        events=rule.events,
        match=rule.match,
        conditions=rule.conditions,
        actions=rule.actions,
    )


# --- conditions as one query ----------------------------------------------------------------


def _open_group_q(now: datetime) -> Q:
    """Tickets whose group's calendar is open at `now` (a group without one uses the default)."""
    from ..calendar_services import calendar_spec_for_group
    from ..calendars import is_open

    open_ids = [g.pk for g in Group.objects.all() if is_open(calendar_spec_for_group(g), now)]
    q = Q(group_id__in=open_ids)
    if is_open(calendar_spec_for_group(None), now):
        q |= Q(group__isnull=True)
    return q


def _condition_q(cond: Condition, now: datetime) -> Q:
    name, op, value = cond.field, cond.op, cond.value
    negate = op in ("is_not", "not_contains", "excludes")
    q: Q
    if name in ("status", "channel"):
        q = Q(**{name: value})
    elif name == "priority":
        q = (
            Q(priority__gte=value)
            if op == "gte"
            else Q(priority__lte=value)
            if op == "lte"
            else Q(priority=value)
        )
    elif name in ("group", "assignee", "organisation"):
        q = Q(**{f"{name}__isnull": True}) if value is None else Q(**{f"{name}_id": value})
    elif name == "tags":
        through = Ticket.tags.through
        q = Q(Exists(through.objects.filter(ticket_id=OuterRef("pk"), tag__name__in=value)))
    elif name == "subject":
        q = Q(subject__icontains=value)
    elif name == "text":
        q = Q(Exists(Message.objects.filter(ticket_id=OuterRef("pk"), text__icontains=value)))
    elif name == "contact_email":
        lookup = {"value": value.lower()} if op == "is" else {"value__icontains": value}
        q = Q(
            Exists(
                Identity.objects.filter(
                    contact_id=OuterRef("contact_id"), kind=Identity.Kind.EMAIL, **lookup
                )
            )
        )
    elif name == "contact_name":
        q = Q(contact__name__icontains=value)
    elif name == "organisation_name":
        q = Q(organisation__name__icontains=value)
    elif name == "business_hours":
        q = _open_group_q(now)
        negate = not value
    else:  # hours since ...
        column = {
            "hours_since_status": "status_changed_at",
            "hours_since_created": "created_at",
            "hours_since_update": "updated_at",
        }[name]
        edge = now - timedelta(hours=value)
        q = Q(**{f"{column}__lte": edge}) if op == "gte" else Q(**{f"{column}__gt": edge})
    return ~q if negate else q


def conditions_q(match: str, conditions: Sequence[Condition], now: datetime) -> Q:
    """All (or any) of the conditions as one filter on `Ticket`; none match every ticket."""
    parts = [_condition_q(cond, now) for cond in conditions]
    if not parts:
        return Q()
    combined = parts[0]
    for part in parts[1:]:
        combined = (combined | part) if match == "any" else (combined & part)
    return combined

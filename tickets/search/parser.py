"""The search box's language, parsed without touching the database.

    refund "charged twice" status:open tag:refund -tag:spam from:alice@example.com
    assignee:me group:Billing priority:high channel:email created>2026-11-01 updated<2026-12-01

Words and "quoted phrases" are searched in the text of the ticket; `key:value` narrows by a
field; a leading `-` negates (`-tag:spam`, `-word`). Values with spaces are quoted
(`group:"Tier 2"`). An unknown operator or a bad value is reported in `errors` with a sentence
an agent can act on; the rest of the query still parses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

# operator -> what it takes (for the error messages and the help line)
OPERATORS: dict[str, str] = {
    "status": "new, open, pending, on_hold, solved, closed or unsolved",
    "priority": "low, normal, high or urgent",
    "channel": "email, chat, telegram, whatsapp, messenger, sms, phone, web or api",
    "tag": "a tag name",
    "from": "the requester's email, phone or name",
    "assignee": "me, none, or an agent's email or username",
    "group": "a team's name, or none",
    "created": "a date (YYYY-MM-DD) after > or <",
    "updated": "a date (YYYY-MM-DD) after > or <",
}
DATE_OPERATORS = ("created", "updated")
STATUSES = ("new", "open", "pending", "on_hold", "solved", "closed", "unsolved")
PRIORITIES = {"low": 1, "normal": 2, "high": 3, "urgent": 4}
CHANNELS = ("email", "chat", "telegram", "whatsapp", "messenger", "sms", "phone", "web", "api")

_TOKEN = re.compile(
    r"""(?P<neg>-)?(?:
        (?P<key>[A-Za-z_]+)(?P<op>:|>=|<=|>|<)(?P<value>"[^"]*"?|\S*)
      | (?P<phrase>"[^"]*"?)
      | (?P<word>\S+)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Condition:
    """One `key:value` (or `key>value`) of the query, its value checked and normalised."""

    key: str
    op: str  # ":" for equality, "<", "<=", ">", ">=" for dates
    value: str
    negated: bool = False
    day: date | None = None  # for created/updated
    number: int | None = None  # for priority


@dataclass(frozen=True)
class SearchQuery:
    words: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()  # -word and -"phrase"
    conditions: tuple[Condition, ...] = ()
    errors: tuple[str, ...] = ()
    ticket_number: int | None = field(default=None)  # "#123" or a bare number

    @property
    def has_text(self) -> bool:
        return bool(self.words or self.phrases)

    @property
    def is_empty(self) -> bool:
        return not (self.words or self.phrases or self.excluded or self.conditions)

    def websearch(self) -> str:
        """The text part in `websearch_to_tsquery` syntax (words AND-ed, phrases quoted,
        exclusions with `-`). Quotes inside a phrase are dropped: they cannot nest."""
        parts = [*self.words, *(f'"{p}"' for p in self.phrases)]
        parts += [f'-"{e}"' if " " in e else f"-{e}" for e in self.excluded]
        return " ".join(parts)

    def where(self, key: str) -> list[Condition]:
        return [c for c in self.conditions if c.key == key]


def _unquote(value: str) -> str:
    if value.startswith('"'):
        value = value[1:]
        if value.endswith('"'):
            value = value[:-1]
    return value.strip()


def _clean_text(value: str) -> str:
    # websearch_to_tsquery reads " and - as syntax; inside one word or phrase they only split
    return " ".join(value.replace('"', " ").split())


def _condition(key: str, op: str, value: str, negated: bool) -> Condition | str:
    """The checked condition, or the error message for the agent."""
    if not value:
        return f"“{key}{op}” needs a value: {OPERATORS[key]}."
    if key in DATE_OPERATORS:
        if op == ":":
            return f"Use {key}> or {key}< with a date, e.g. {key}>2026-11-01."
        try:
            day = date.fromisoformat(value)
        except ValueError:
            return f"“{value}” is not a date: write it as YYYY-MM-DD, e.g. {key}>2026-11-01."
        return Condition(key, op, value, negated, day=day)
    if op != ":":
        return f"“{key}{op}” compares only dates; write {key}:value."
    lowered = value.lower()
    if key == "status":
        lowered = lowered.replace("-", "_").replace(" ", "_")
        if lowered not in STATUSES:
            return f"Unknown status “{value}”: use {OPERATORS['status']}."
        return Condition(key, op, lowered, negated)
    if key == "priority":
        number = PRIORITIES.get(lowered) or (int(lowered) if lowered in ("1", "2", "3", "4") else 0)
        if not number:
            return f"Unknown priority “{value}”: use {OPERATORS['priority']}."
        return Condition(key, op, lowered, negated, number=number)
    if key == "channel":
        if lowered not in CHANNELS:
            return f"Unknown channel “{value}”: use {OPERATORS['channel']}."
        return Condition(key, op, lowered, negated)
    if key in ("tag", "from", "assignee"):
        return Condition(key, op, lowered, negated)
    return Condition(key, op, value, negated)  # group: names keep their case for messages


def parse_query(text: str) -> SearchQuery:
    """Parse what an agent typed into words, phrases, exclusions and conditions."""
    words: list[str] = []
    phrases: list[str] = []
    excluded: list[str] = []
    conditions: list[Condition] = []
    errors: list[str] = []
    number: int | None = None
    for match in _TOKEN.finditer(text or ""):
        negated = bool(match.group("neg"))
        key = match.group("key")
        if key is not None:
            value = match.group("value")
            lowered = key.lower()
            if value.startswith("//") or (lowered not in OPERATORS and not value):
                # a URL (https://…) or "Re:" is text, not an operator
                words.append(_clean_text(match.group(0).lstrip("-")))
                continue
            if lowered not in OPERATORS:
                known = ", ".join(f"{k}:" for k in OPERATORS)
                errors.append(f"Unknown operator “{key}:”. Search understands {known}.")
                continue
            found = _condition(lowered, match.group("op"), _unquote(value), negated)
            if isinstance(found, str):
                errors.append(found)
            else:
                conditions.append(found)
            continue
        raw = match.group("phrase") or match.group("word") or ""
        is_phrase = raw.startswith('"')
        cleaned = _clean_text(_unquote(raw) if is_phrase else raw)
        if not cleaned:
            continue
        if negated:
            excluded.append(cleaned)
            continue
        digits = cleaned.lstrip("#")
        if not is_phrase and digits.isdigit() and len(digits) < 19 and number is None:
            number = int(digits)
        if is_phrase and " " in cleaned:
            phrases.append(cleaned)
        else:
            words.append(cleaned)
    return SearchQuery(
        words=tuple(words),
        phrases=tuple(phrases),
        excluded=tuple(excluded),
        conditions=tuple(conditions),
        errors=tuple(errors),
        ticket_number=number,
    )

"""The history import format, parsed without a database: what a good line becomes, and the
clear reason each bad one is refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tickets.history_import import InvalidLine, LineOutcome, parse_line, parse_record


def line(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "external_id": "zd-1042",
        "subject": "Refund for order A-1",
        "channel": "email",
        "priority": "high",
        "group": "Billing",
        "contact": {"email": "a@example.com", "name": "A"},
        "organisation": "Acme",
        "tags": ["refund"],
        "events": [
            {"at": "2026-03-02T16:30:00+01:00", "kind": "customer_message", "text": "Hello"},
            {"at": "2026-03-02T17:00:00+01:00", "kind": "csat", "rating": 4, "comment": "ok"},
        ],
    }
    record.update(changes)
    return record


def refused(record: Any) -> str:
    with pytest.raises(InvalidLine) as caught:
        parse_line(record if isinstance(record, str) else json.dumps(record))
    return str(caught.value)


def test_it_parses_the_documented_line() -> None:
    parsed = parse_line(json.dumps(line()))

    assert parsed.external_id == "zd-1042"
    assert parsed.priority == 3
    assert parsed.group == "Billing" and parsed.organisation == "Acme"
    assert parsed.tags == ("refund",)
    assert parsed.contact.email == "a@example.com" and parsed.contact.name == "A"
    first, csat = parsed.events
    assert first.at == datetime(2026, 3, 2, 15, 30, tzinfo=UTC)
    assert first.at.utcoffset() == timedelta(hours=1)
    assert (csat.kind, csat.rating, csat.comment) == ("csat", 4, "ok")


def test_it_parses_every_event_kind() -> None:
    at = "2026-03-02T16:30:00Z"
    events = [
        {"at": at, "kind": "customer_message", "text": "a"},
        {"at": at, "kind": "agent_reply", "agent": "Ada@Demo.Helpdesk", "text": "b"},
        {"at": at, "kind": "note", "agent": "ada@demo.helpdesk", "text": "c"},
        {"at": at, "kind": "status", "to": "pending"},
        {"at": at, "kind": "priority", "to": "urgent"},
        {"at": at, "kind": "assign", "agent": "bob@demo.helpdesk"},
        {"at": at, "kind": "assign", "agent": None},
        {"at": at, "kind": "group", "to": "Support"},
        {"at": at, "kind": "auto_message", "text": "d"},
        {"at": at, "kind": "bot_reply", "text": "e"},
        {"at": at, "kind": "csat", "rating": 5},
    ]
    parsed = parse_record(line(events=events))

    kinds = [e.kind for e in parsed.events]
    assert kinds == [e["kind"] for e in events]
    assert parsed.events[1].agent == "ada@demo.helpdesk"  # emails compare lowercase
    assert parsed.events[3].status == "pending" and parsed.events[4].priority == 4
    assert parsed.events[6].agent is None
    assert parsed.agents == {"ada@demo.helpdesk", "bob@demo.helpdesk"}
    assert parsed.groups == {"Billing", "Support"}
    assert parsed.events[0].at.utcoffset() == timedelta(0)  # "Z" is UTC


def test_optional_fields_have_defaults() -> None:
    record = line()
    for key in ("channel", "priority", "group", "organisation", "tags"):
        del record[key]

    parsed = parse_record(record)

    assert (parsed.channel, parsed.priority, parsed.group, parsed.organisation, parsed.tags) == (
        "email",
        2,
        None,
        None,
        (),
    )


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ("{not json", "invalid JSON"),
        ("[1, 2]", "a line is a JSON object, not a list"),
        ("   ", "empty line"),
        ({k: v for k, v in line().items() if k != "external_id"}, "external_id is missing"),
        (line(external_id=""), "external_id is empty"),
        (line(external_id=7), "external_id is a string, not a number"),
        ({k: v for k, v in line().items() if k != "subject"}, "subject is missing"),
        ({k: v for k, v in line().items() if k != "contact"}, "contact is missing"),
        (line(contact={"name": "A"}), "contact.email is missing"),
        (line(contact={"email": "nobody"}), "is not an email address"),
        ({k: v for k, v in line().items() if k != "events"}, "events is missing"),
        (line(events=[]), "events is a non-empty list"),
        (line(channel="fax"), "unknown channel 'fax'"),
        (line(priority="critical"), "unknown priority 'critical'"),
        (line(tags="refund"), "tags is a list of strings"),
    ],
)
def test_a_bad_line_is_refused_with_its_reason(record: Any, reason: str) -> None:
    assert reason in refused(record)


def events_with(*extra: dict[str, Any]) -> dict[str, Any]:
    return line(
        events=[{"at": "2026-03-02T16:30:00+01:00", "kind": "customer_message", "text": "Hi"}]
        + list(extra)
    )


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (
            {"at": "2026-03-02T17:00:00Z", "kind": "phone_call"},
            "event 2: unknown kind 'phone_call'",
        ),
        ({"at": "2026-03-02T17:00:00Z"}, "event 2.kind is missing"),
        ({"kind": "status", "to": "open"}, "event 2.at is missing"),
        ({"at": "2026-03-02T17:00:00", "kind": "status", "to": "open"}, "has no UTC offset"),
        ({"at": "yesterday", "kind": "status", "to": "open"}, "is not an ISO 8601 time"),
        ({"at": "2026-03-02T14:00:00Z", "kind": "status", "to": "open"}, "events out of order"),
        ({"at": "2026-03-02T17:00:00Z", "kind": "csat", "rating": 6}, "rating 6 is out of range"),
        ({"at": "2026-03-02T17:00:00Z", "kind": "csat", "rating": 0}, "rating 0 is out of range"),
        ({"at": "2026-03-02T17:00:00Z", "kind": "csat", "rating": "4"}, "rating is a whole"),
        ({"at": "2026-03-02T17:00:00Z", "kind": "csat"}, "event 2.rating is missing"),
        ({"at": "2026-03-02T17:00:00Z", "kind": "status", "to": "done"}, "unknown status 'done'"),
        ({"at": "2026-03-02T17:00:00Z", "kind": "priority", "to": 9}, "unknown priority 9"),
        ({"at": "2026-03-02T17:00:00Z", "kind": "agent_reply", "text": "x"}, "agent is missing"),
        ({"at": "2026-03-02T17:00:00Z", "kind": "agent_reply", "agent": "a@b"}, "text is missing"),
        ({"at": "2026-03-02T17:00:00Z", "kind": "bot_reply", "text": "  "}, "text is empty"),
        ({"at": "2026-03-02T17:00:00Z", "kind": "assign"}, "agent is missing (null unassigns)"),
        ({"at": "2026-03-02T17:00:00Z", "kind": "group"}, "to is missing"),
        ("not an object", "event 2 is an object, not a string"),
    ],
)
def test_a_bad_event_is_refused_with_its_number(event: Any, reason: str) -> None:
    assert reason in refused(events_with(event))


def test_the_first_event_opens_the_ticket() -> None:
    record = line(events=[{"at": "2026-03-02T16:30:00Z", "kind": "status", "to": "open"}])

    assert "event 1 must be the customer_message" in refused(record)


def test_the_refusal_names_the_external_id_when_it_has_one() -> None:
    with pytest.raises(InvalidLine) as caught:
        parse_record(line(channel="fax"))

    assert caught.value.external_id == "zd-1042"


def test_an_outcome_reads_as_the_command_prints_it() -> None:
    assert LineOutcome(line=1, external_id="zd-1", number=1300).describe() == "zd-1 → #1300"
    assert (
        LineOutcome(line=1, external_id="zd-1", number=1300, status="already imported").describe()
        == "zd-1 → #1300 (already imported)"
    )
    assert (
        LineOutcome(line=4, external_id="zd-2", status="skipped", reason="bad").describe()
        == "line 4: zd-2 skipped: bad"
    )
    assert LineOutcome(line=5, status="skipped", reason="x").describe() == "line 5: skipped: x"

"""The search language, parsed without a database."""

from __future__ import annotations

from datetime import date

import pytest

from tickets.search.parser import Condition, parse_query


def test_it_splits_words_phrases_and_operators() -> None:
    q = parse_query(
        'refund "charged twice" status:open tag:Refund from:Alice@Example.com assignee:me '
        "created>2026-11-01"
    )
    assert q.words == ("refund",)
    assert q.phrases == ("charged twice",)
    assert q.errors == ()
    assert q.conditions == (
        Condition("status", ":", "open"),
        Condition("tag", ":", "refund"),
        Condition("from", ":", "alice@example.com"),
        Condition("assignee", ":", "me"),
        Condition("created", ">", "2026-11-01", day=date(2026, 11, 1)),
    )
    assert q.websearch() == 'refund "charged twice"'


def test_it_reads_every_operator() -> None:
    q = parse_query(
        'group:"Tier 2" priority:high channel:EMAIL created<2026-12-01 updated>=2026-11-20 '
        "updated<=2026-11-30 status:on-hold"
    )
    assert q.errors == ()
    by_key = {(c.key, c.op): c for c in q.conditions}
    assert by_key[("group", ":")].value == "Tier 2"
    assert by_key[("priority", ":")].number == 3
    assert by_key[("channel", ":")].value == "email"
    assert by_key[("created", "<")].day == date(2026, 12, 1)
    assert by_key[("updated", ">=")].day == date(2026, 11, 20)
    assert by_key[("updated", "<=")].day == date(2026, 11, 30)
    assert by_key[("status", ":")].value == "on_hold"


def test_it_negates_operators_and_words() -> None:
    q = parse_query('printer -tag:spam -toner -"paper jam"')
    assert q.words == ("printer",)
    assert q.excluded == ("toner", "paper jam")
    assert q.conditions == (Condition("tag", ":", "spam", negated=True),)
    assert q.websearch() == 'printer -toner -"paper jam"'


def test_it_reads_a_ticket_number() -> None:
    assert parse_query("#1234").ticket_number == 1234
    assert parse_query("1234").ticket_number == 1234
    assert parse_query('"1234"').ticket_number is None
    assert parse_query("printer").ticket_number is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("colour:red", "Unknown operator “colour:”"),
        ("status:sleeping", "Unknown status “sleeping”"),
        ("priority:meh", "Unknown priority “meh”"),
        ("channel:pigeon", "Unknown channel “pigeon”"),
        ("created>yesterday", "“yesterday” is not a date"),
        ("created:2026-11-01", "Use created> or created<"),
        ("tag>vip", "compares only dates"),
        ("status:", "“status:” needs a value"),
    ],
)
def test_it_explains_what_it_cannot_read(text: str, message: str) -> None:
    q = parse_query(f"printer {text}")
    assert len(q.errors) == 1
    assert message in q.errors[0]
    assert q.words == ("printer",)  # the rest still parses


def test_it_names_the_known_operators_for_an_unknown_one() -> None:
    (error,) = parse_query("foo:bar").errors
    for key in ("status:", "tag:", "from:", "assignee:", "created:", "group:", "priority:"):
        assert key in error


def test_text_that_only_looks_like_an_operator_stays_text() -> None:
    q = parse_query("Re: invoice https://example.com/a")
    assert q.errors == ()
    assert q.words == ("Re:", "invoice", "https://example.com/a")


def test_quotes_cannot_break_out_of_the_text() -> None:
    q = parse_query('"unclosed phrase')
    assert q.phrases == ("unclosed phrase",)
    q = parse_query('tag:"open')
    assert q.conditions == (Condition("tag", ":", "open"),)
    assert parse_query('a"b').words == ("a b",)


def test_an_empty_query_is_empty() -> None:
    assert parse_query("").is_empty
    assert parse_query("   ").is_empty
    assert not parse_query("status:open").has_text
    assert parse_query("status:open").conditions

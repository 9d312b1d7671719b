"""Triggers and time automations: every condition and action, order and "stop here", loops and
the depth limit refused, each cause acted on once, time rules once per state even with two
sweeps at once, the dry run, and signed, retried webhooks."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
import responses
from django.core import mail
from django.db import close_old_connections, connection
from django.utils import timezone

from tests.factories import ContactFactory, OrganisationFactory, make_agent, make_ticket
from tickets import event_types as et
from tickets import services
from tickets.automation import engine
from tickets.automation.models import AutomationRule, TimeRun, TriggerRun, WebhookCall
from tickets.automation.rules import RuleError, conditions_q, parse_rule
from tickets.automation.webhooks import SIGNATURE_HEADER, webhook_signature, webhook_verify
from tickets.calendar_models import Calendar
from tickets.models import ActorKind, Channel, Group, Message, Ticket, TicketEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def eager() -> Iterator[None]:
    """Tasks queued after commit run inline, so a chain of triggers runs within the test."""
    from helpdesk.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = before


def rule(
    name: str,
    *,
    events: list[str] | None = None,
    conditions: list[dict[str, Any]] = (),  # type: ignore[assignment]
    actions: list[dict[str, Any]],
    kind: str = "trigger",
    match: str = "all",
    position: int = 0,
    stop: bool = False,
) -> AutomationRule:
    parse_rule(
        kind=kind, events=events or [], match=match, conditions=list(conditions), actions=actions
    )
    return AutomationRule.objects.create(
        name=name,
        kind=kind,
        events=events or [],
        match=match,
        conditions=list(conditions),
        actions=actions,
        position=position,
        stop=stop,
    )


def automation_events(ticket: Ticket) -> list[TicketEvent]:
    return list(ticket.events.filter(kind=TicketEvent.Kind.AUTOMATION).order_by("id"))


def fire(ticket: Ticket, kind: str = TicketEvent.Kind.CREATED) -> engine.RunResult:
    event = ticket.events.filter(kind=kind).latest("id")
    return engine.triggers_run(event_id=event.pk)


# --- conditions -----------------------------------------------------------------------------


def matching(conditions: list[dict[str, Any]], match: str = "all") -> set[int]:
    parsed = parse_rule(
        kind="trigger",
        events=["ticket_created"],
        match=match,
        conditions=conditions,
        actions=[{"type": "add_tag", "value": "x"}],
    )
    q = conditions_q(parsed.match, parsed.conditions, timezone.now())
    return set(Ticket.objects.filter(q).values_list("number", flat=True))


@pytest.fixture
def two(support: Group, agent: Any) -> tuple[Ticket, Ticket]:
    acme = OrganisationFactory(name="Acme Corp")
    a = make_ticket(
        contact=ContactFactory(name="Ann Acme", organisation=acme, email="ann@acme.test"),
        group=support,
        subject="Refund please",
        text="I was charged twice",
        channel=Channel.EMAIL,
        priority=Ticket.Priority.HIGH,
    )
    services.ticket_assign(ticket=a, agent=agent, actor=agent)
    services.ticket_set_tags(ticket=a, names=["vip", "billing"], actor=agent)
    b = make_ticket(
        contact=ContactFactory(name="Bo Else", email="bo@else.test"),
        subject="Login",
        text="cannot sign in",
        channel=Channel.WEB,
    )
    return a, b


@pytest.mark.parametrize(
    ("condition", "want"),
    [
        ({"field": "status", "op": "is", "value": "open"}, "a"),
        ({"field": "status", "op": "is_not", "value": "open"}, "b"),
        ({"field": "priority", "op": "gte", "value": 3}, "a"),
        ({"field": "priority", "op": "lte", "value": 2}, "b"),
        ({"field": "priority", "op": "is", "value": "3"}, "a"),
        ({"field": "channel", "op": "is", "value": "web"}, "b"),
        ({"field": "group", "op": "is", "value": None}, "b"),
        ({"field": "assignee", "op": "is", "value": None}, "b"),
        ({"field": "tags", "op": "includes", "value": "vip, other"}, "a"),
        ({"field": "tags", "op": "excludes", "value": ["vip"]}, "b"),
        ({"field": "subject", "op": "contains", "value": "REFUND"}, "a"),
        ({"field": "subject", "op": "not_contains", "value": "refund"}, "b"),
        ({"field": "text", "op": "contains", "value": "charged twice"}, "a"),
        ({"field": "text", "op": "not_contains", "value": "charged"}, "b"),
        ({"field": "contact_email", "op": "is", "value": "ANN@acme.test"}, "a"),
        ({"field": "contact_email", "op": "contains", "value": "@else."}, "b"),
        ({"field": "contact_email", "op": "not_contains", "value": "acme"}, "b"),
        ({"field": "contact_name", "op": "contains", "value": "bo "}, "b"),
        ({"field": "contact_name", "op": "not_contains", "value": "ann"}, "b"),
        ({"field": "organisation", "op": "is", "value": None}, "b"),
        ({"field": "organisation_name", "op": "contains", "value": "acme"}, "a"),
        ({"field": "organisation_name", "op": "not_contains", "value": "acme"}, "b"),
    ],
)
def test_each_condition_matches_the_right_ticket(
    two: tuple[Ticket, Ticket], condition: dict[str, Any], want: str
) -> None:
    a, b = two
    assert matching([condition]) == {a.number if want == "a" else b.number}


def test_group_assignee_and_organisation_by_id(two: tuple[Ticket, Ticket], agent: Any) -> None:
    a, b = two
    assert matching([{"field": "group", "op": "is", "value": a.group_id}]) == {a.number}
    assert matching([{"field": "group", "op": "is_not", "value": a.group_id}]) == {b.number}
    assert matching([{"field": "assignee", "op": "is", "value": agent.pk}]) == {a.number}
    assert matching([{"field": "assignee", "op": "is_not", "value": agent.pk}]) == {b.number}
    org = a.organisation_id
    assert matching([{"field": "organisation", "op": "is", "value": org}]) == {a.number}
    assert matching([{"field": "organisation", "op": "is_not", "value": org}]) == {b.number}


def test_all_and_any(two: tuple[Ticket, Ticket]) -> None:
    a, b = two
    both = [
        {"field": "channel", "op": "is", "value": "web"},
        {"field": "subject", "op": "contains", "value": "refund"},
    ]
    assert matching(both, "all") == set()
    assert matching(both, "any") == {a.number, b.number}
    assert matching([], "all") == {a.number, b.number}


def test_within_business_hours_reads_the_groups_calendar(
    two: tuple[Ticket, Ticket], support: Group
) -> None:
    a, b = two
    closed = Calendar.objects.create(name="Never", timezone="UTC", hours={})
    support.calendar = closed
    support.save(update_fields=["calendar"])
    inside = [{"field": "business_hours", "op": "is", "value": True}]
    outside = [{"field": "business_hours", "op": "is", "value": "false"}]
    # no default calendar: the group-less ticket counts round the clock
    assert matching(inside) == {b.number}
    assert matching(outside) == {a.number}
    always = Calendar.objects.create(
        name="Always",
        timezone="Europe/Paris",
        hours={d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
    )
    support.calendar = always
    support.save(update_fields=["calendar"])
    assert matching(inside) == {a.number, b.number}


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"conditions": [{"field": "colour", "op": "is", "value": "x"}]}, "unknown field"),
        ({"conditions": [{"field": "status", "op": "gte", "value": "open"}]}, "cannot use"),
        ({"conditions": [{"field": "status", "op": "is", "value": "lost"}]}, "unknown status"),
        ({"conditions": [{"field": "priority", "op": "is", "value": "high"}]}, "whole number"),
        ({"actions": []}, "at least one action"),
        ({"actions": [{"type": "explode"}]}, "unknown action"),
        ({"actions": [{"type": "webhook", "url": "ftp://x", "secret": "s" * 20}]}, "not an http"),
        ({"actions": [{"type": "webhook", "url": "https://x.test/h", "secret": "short"}]}, "16"),
        ({"actions": [{"type": "add_note", "value": "{% if %}"}]}, "template error"),
        ({"actions": [{"type": "notify_agents", "to": "everyone", "text": "hi"}]}, "assignee or"),
        ({"events": []}, "at least one event"),
        ({"events": ["moon_rise"]}, "Unknown trigger event"),
        ({"conditions": [{"field": "hours_since_status", "op": "gte", "value": 3}]}, "time autom"),
        ({"kind": "time", "events": [], "conditions": []}, "status is"),
        (
            {"kind": "time", "conditions": [{"field": "status", "op": "is", "value": "pending"}]},
            "hours",
        ),
    ],
)
def test_a_bad_rule_is_refused_with_a_reason(kwargs: dict[str, Any], error: str) -> None:
    base: dict[str, Any] = {
        "kind": "trigger",
        "events": ["ticket_created"],
        "match": "all",
        "conditions": [],
        "actions": [{"type": "add_tag", "value": "x"}],
    }
    with pytest.raises(RuleError, match=error):
        parse_rule(**{**base, **kwargs})


# --- actions --------------------------------------------------------------------------------


def test_field_actions_go_through_services_as_automation(
    support: Group, billing: Group, other_agent: Any
) -> None:
    r = rule(
        "Route billing",
        events=["ticket_created"],
        conditions=[{"field": "subject", "op": "contains", "value": "invoice"}],
        actions=[
            {"type": "set_group", "value": billing.pk},
            {"type": "assign", "value": other_agent.pk},
            {"type": "set_priority", "value": 4},
            {"type": "add_tag", "value": "Billing Issue"},
            {"type": "remove_tag", "value": "nothing-here"},
            {"type": "set_status", "value": "on_hold"},
        ],
    )
    ticket = make_ticket(group=support, subject="Invoice wrong")
    result = fire(ticket)
    ticket.refresh_from_db()
    assert result.fired == [r.pk]
    assert (ticket.group_id, ticket.assignee_id, ticket.priority, ticket.status) == (
        billing.pk,
        other_agent.pk,
        4,
        "on_hold",
    )
    assert list(ticket.tags.values_list("name", flat=True)) == ["billing-issue"]
    done = automation_events(ticket)
    assert [e.payload["action"] for e in done] == [
        "set_group",
        "assign",
        "set_priority",
        "add_tag",
        "remove_tag",
        "set_status",
    ]
    for e in done:
        payload = et.payload_of(e)
        assert (payload.rule, payload.rule_name, payload.cause) == (
            r.pk,
            r.name,
            result_cause(ticket),
        )
        assert e.actor_kind == ActorKind.AUTOMATION and e.dedupe_key.startswith(f"trigger:{r.pk}:")
    changes = ticket.events.filter(kind__in=["group", "assignee", "priority", "tags", "status"])
    assert {e.actor_kind for e in changes.filter(actor_kind=ActorKind.AUTOMATION)} == {"automation"}
    assert changes.filter(actor_kind=ActorKind.AUTOMATION).count() >= 5


def result_cause(ticket: Ticket) -> int:
    return ticket.events.get(kind=TicketEvent.Kind.CREATED).pk


def test_an_action_that_no_longer_fits_is_recorded_with_its_error(support: Group) -> None:
    outsider_agent = make_agent("zed", groups=[])
    rule(
        "Assign zed",
        events=["ticket_created"],
        actions=[
            {"type": "assign", "value": outsider_agent.pk},
            {"type": "add_tag", "value": "seen"},
        ],
    )
    ticket = make_ticket(group=support)
    fire(ticket)
    first, second = automation_events(ticket)
    assert "not a member" in first.payload["error"]
    assert second.payload["error"] == "" and ticket.tags.filter(name="seen").exists()
    ticket.refresh_from_db()
    assert ticket.assignee_id is None


def test_note_reply_and_email_to_the_customer(support: Group) -> None:
    rule(
        "Acknowledge",
        events=["ticket_created"],
        actions=[
            {"type": "add_note", "value": "Routed by {{ rule }} for #{{ ticket.number }}"},
            {
                "type": "send_reply",
                "subject": "Re: {{ ticket.subject }}",
                "text": "Hello {{ contact.name }}, we got ticket #{{ ticket.number }}.",
            },
            {"type": "send_email", "text": "A copy by email."},
        ],
    )
    ticket = make_ticket(
        group=support,
        channel=Channel.WEB,
        contact=ContactFactory(name="Wanda Web", email="wanda@web.test"),
    )
    fire(ticket)
    note, reply, email = (
        Message.objects.filter(ticket=ticket).exclude(kind=Message.Kind.CUSTOMER).order_by("id")
    )
    assert (
        note.kind == Message.Kind.NOTE
        and note.text == f"Routed by Acknowledge for #{ticket.number}"
    )
    assert reply.kind == Message.Kind.SYSTEM and reply.channel == Channel.WEB
    assert reply.text == f"Hello Wanda Web, we got ticket #{ticket.number}."
    assert reply.subject == "Re: Printer on fire" and reply.is_automatic
    assert email.channel == Channel.EMAIL
    ticket.refresh_from_db()
    # an automatic message is not an agent reply: no first response, status unchanged
    assert ticket.first_response_at is None and ticket.status == Ticket.Status.NEW
    kinds = list(
        ticket.events.filter(actor_kind=ActorKind.AUTOMATION)
        .exclude(kind="automation")
        .values_list("kind", flat=True)
    )
    assert kinds == ["note", "auto_message", "auto_message"]


def test_the_email_action_records_its_delivery_through_the_reply_path(support: Group) -> None:
    from channels_in.models import ChannelAccount, OutboundDelivery

    ChannelAccount.objects.create(kind="email", name="support-mail", active=True)
    rule("Mail", events=["ticket_created"], actions=[{"type": "send_email", "text": "Hi"}])
    ticket = make_ticket(group=support, contact=ContactFactory(email="mia@mail.test"))
    fire(ticket)
    delivery = OutboundDelivery.objects.get(message__ticket=ticket)
    assert delivery.recipient == "mia@mail.test" and delivery.channel == "email"


def test_notify_agents_by_email(
    support: Group, agent: Any, django_capture_on_commit_callbacks: Any, eager: None
) -> None:
    colleague = make_agent("cy", groups=[support])
    rule(
        "Tell the team",
        events=["ticket_created"],
        actions=[
            {
                "type": "notify_agents",
                "to": "group",
                "subject": "New: {{ ticket.subject }}",
                "text": "Ticket #{{ ticket.number }} came in.",
            }
        ],
    )
    ticket = make_ticket(group=support)
    with django_capture_on_commit_callbacks(execute=True):
        fire(ticket)
    (sent,) = mail.outbox
    assert sorted(sent.to) == sorted([agent.email, colleague.email])
    assert sent.subject == "New: Printer on fire"
    assert sent.body == f"Ticket #{ticket.number} came in."


def test_notifying_an_absent_assignee_is_an_error_not_a_crash(support: Group) -> None:
    rule(
        "Tell",
        events=["ticket_created"],
        actions=[{"type": "notify_agents", "to": "assignee", "text": "x"}],
    )
    ticket = make_ticket(group=support)
    fire(ticket)
    (done,) = automation_events(ticket)
    assert "Nobody to notify" in done.payload["error"]
    assert mail.outbox == []


# --- order, stop, loops, depth --------------------------------------------------------------


def test_rules_run_in_order_and_stop_here_ends_the_run(support: Group) -> None:
    second = rule(
        "B",
        events=["ticket_created"],
        position=2,
        stop=True,
        actions=[{"type": "add_tag", "value": "b"}],
    )
    first = rule(
        "A", events=["ticket_created"], position=1, actions=[{"type": "add_tag", "value": "a"}]
    )
    rule("C", events=["ticket_created"], position=3, actions=[{"type": "add_tag", "value": "c"}])
    # a later rule sees what an earlier one did
    rule(
        "D",
        events=["ticket_created"],
        position=0,
        conditions=[{"field": "tags", "op": "includes", "value": "a"}],
        actions=[{"type": "add_tag", "value": "d"}],
    )
    ticket = make_ticket(group=support)
    result = fire(ticket)
    assert result.fired == [first.pk, second.pk]
    assert sorted(ticket.tags.values_list("name", flat=True)) == ["a", "b"]


def test_an_inactive_rule_or_another_event_does_not_fire(support: Group, agent: Any) -> None:
    r = rule("Off", events=["ticket_created"], actions=[{"type": "add_tag", "value": "x"}])
    r.active = False
    r.save()
    rule("On reply", events=["agent_replied"], actions=[{"type": "add_tag", "value": "y"}])
    ticket = make_ticket(group=support)
    assert fire(ticket).fired == []
    services.ticket_reply(ticket=ticket, author=agent, text="Hi")
    assert fire(ticket, TicketEvent.Kind.REPLY).fired != []
    assert list(ticket.tags.values_list("name", flat=True)) == ["y"]


def test_event_names(support: Group, agent: Any) -> None:
    ticket = make_ticket(group=support)
    created = ticket.events.get(kind="created")
    first_message = ticket.events.get(kind="message")
    assert engine.trigger_event_name(created) == "ticket_created"
    assert engine.trigger_event_name(first_message) is None  # the opening message
    services.ticket_set_tags(ticket=ticket, names=["a"], actor=agent)
    services.ticket_set_tags(ticket=ticket, names=[], actor=agent)
    added, removed = ticket.events.filter(kind="tags").order_by("id")
    assert engine.trigger_event_name(added) == "tag_added"
    assert engine.trigger_event_name(removed) is None


def test_a_customer_reply_fires_customer_replied(support: Group) -> None:
    from tickets.types import IncomingMessage

    rule("Reopened", events=["customer_replied"], actions=[{"type": "add_tag", "value": "back"}])
    ticket = make_ticket(group=support, contact=ContactFactory(email="kim@c.test"))
    services.message_ingest(
        incoming=IncomingMessage(
            channel=Channel.EMAIL,
            identity_kind="email",
            identity_value="kim@c.test",
            subject="Re: it",
            text="more info",
            reply_token=ticket.reply_token,
        )
    )
    assert fire(ticket, TicketEvent.Kind.MESSAGE).fired
    assert ticket.tags.filter(name="back").exists()


def test_a_loop_is_refused(
    support: Group, agent: Any, django_capture_on_commit_callbacks: Any, eager: None
) -> None:
    up = rule(
        "Up",
        events=["priority_changed"],
        position=1,
        conditions=[{"field": "priority", "op": "is", "value": 3}],
        actions=[{"type": "set_priority", "value": 4}],
    )
    down = rule(
        "Down",
        events=["priority_changed"],
        position=2,
        conditions=[{"field": "priority", "op": "is", "value": 4}],
        actions=[{"type": "set_priority", "value": 3}],
    )
    ticket = make_ticket(group=support)
    with django_capture_on_commit_callbacks(execute=True):
        services.ticket_set_priority(ticket=ticket, priority=3, actor=agent)
    ticket.refresh_from_db()
    assert ticket.priority == 3
    runs = list(TriggerRun.objects.filter(event__ticket=ticket).order_by("id"))
    # one run fires Up then Down (a later rule sees an earlier one's change); the two changes
    # they caused come back with both in the chain, and neither may fire again
    assert [(run.depth, run.fired) for run in runs] == [(0, [up.pk, down.pk]), (1, []), (1, [])]
    for refused in runs[1:]:
        assert refused.chain == [up.pk, down.pk]
        assert "loop refused" in refused.refused
    assert ticket.events.filter(kind="priority").count() == 3  # human, Up, Down; no more


def test_a_chain_deeper_than_the_limit_is_refused(
    support: Group, agent: Any, django_capture_on_commit_callbacks: Any, eager: None
) -> None:
    steps = engine.MAX_DEPTH + 2
    for i in range(steps):
        rule(  # "stop here": one step per event, so each step is one level deeper
            f"Step {i}",
            events=["tag_added"],
            position=i,
            stop=True,
            conditions=[{"field": "tags", "op": "includes", "value": f"t{i}"}],
            actions=[{"type": "add_tag", "value": f"t{i + 1}"}],
        )
    ticket = make_ticket(group=support)
    with django_capture_on_commit_callbacks(execute=True):
        services.ticket_set_tags(ticket=ticket, names=["t0"], actor=agent)
    tags = set(ticket.tags.values_list("name", flat=True))
    assert tags == {f"t{i}" for i in range(engine.MAX_DEPTH + 2)}
    last_run = TriggerRun.objects.filter(event__ticket=ticket).latest("id")
    assert last_run.depth == engine.MAX_DEPTH + 1 and "deeper than" in last_run.refused


def test_committed_events_queue_the_triggers(
    support: Group, agent: Any, django_capture_on_commit_callbacks: Any, eager: None
) -> None:
    rule(
        "Solved thanks",
        events=["status_changed"],
        conditions=[{"field": "status", "op": "is", "value": "solved"}],
        actions=[{"type": "add_note", "value": "Solved."}],
    )
    ticket = make_ticket(group=support)
    with django_capture_on_commit_callbacks(execute=True):
        services.ticket_set_status(ticket=ticket, status="solved", actor=agent)
    assert ticket.messages.filter(kind=Message.Kind.NOTE, text="Solved.").exists()


def test_no_rule_no_task(
    support: Group,
    agent: Any,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tickets.automation import tasks

    queued: list[Any] = []
    monkeypatch.setattr(tasks.run_triggers, "delay", lambda *a: queued.append(a))
    with django_capture_on_commit_callbacks(execute=True):
        make_ticket(group=support)
    assert queued == []
    rule("Any", events=["ticket_created"], actions=[{"type": "add_tag", "value": "x"}])
    with django_capture_on_commit_callbacks(execute=True):
        make_ticket(group=support)
    assert len(queued) == 2  # created and the opening message; the engine names them
    with django_capture_on_commit_callbacks(execute=True):
        make_ticket(group=support, actor_kind=ActorKind.IMPORT)  # past history: no rule
    assert len(queued) == 2


# --- idempotency ----------------------------------------------------------------------------


def test_the_task_run_twice_does_nothing_more(support: Group) -> None:
    rule(
        "Note",
        events=["ticket_created"],
        actions=[
            {"type": "add_note", "value": "hi"},
            {"type": "set_priority", "value": 3},
            {"type": "webhook", "url": "https://hooks.example.test/h", "secret": "s" * 32},
        ],
    )
    ticket = make_ticket(group=support)
    first = fire(ticket)
    events_after = ticket.events.count()
    again = fire(ticket)
    assert first.fired and again.fired == [] and again.refused == "already run"
    assert ticket.events.count() == events_after
    assert WebhookCall.objects.count() == 1 and ticket.messages.filter(kind="note").count() == 1


def test_a_keyed_action_is_done_once(support: Group) -> None:
    from tickets.automation.actions import Cause, action_run
    from tickets.automation.rules import Action

    r = rule("N", events=["ticket_created"], actions=[{"type": "add_note", "value": "x"}])
    ticket = make_ticket(group=support)
    cause = Cause(rule=r, event_id=None, chain=())
    action = Action(type="add_note", value="once")
    assert action_run(ticket=ticket, action=action, cause=cause, dedupe_key="k1") is True
    assert action_run(ticket=ticket, action=action, cause=cause, dedupe_key="k1") is False
    assert ticket.messages.filter(kind="note").count() == 1


# --- time automations -----------------------------------------------------------------------


def age(ticket: Ticket, status: str, hours: int) -> None:
    Ticket.objects.filter(pk=ticket.pk).update(
        status=status, status_changed_at=timezone.now() - timedelta(hours=hours)
    )


@pytest.fixture
def time_rules(db: Any) -> list[AutomationRule]:
    return [
        rule(
            "Remind",
            kind="time",
            position=1,
            conditions=[
                {"field": "status", "op": "is", "value": "pending"},
                {"field": "hours_since_status", "op": "gte", "value": 72},
            ],
            actions=[{"type": "send_reply", "text": "Still need help with #{{ ticket.number }}?"}],
        ),
        rule(
            "Solve",
            kind="time",
            position=2,
            conditions=[
                {"field": "status", "op": "is", "value": "pending"},
                {"field": "hours_since_status", "op": "gte", "value": 168},
            ],
            actions=[{"type": "set_status", "value": "solved"}],
        ),
        rule(
            "Close",
            kind="time",
            position=3,
            conditions=[
                {"field": "status", "op": "is", "value": "solved"},
                {"field": "hours_since_status", "op": "gte", "value": 96},
            ],
            actions=[{"type": "set_status", "value": "closed"}],
        ),
    ]


def test_time_automations_act_once_per_state(support: Group, time_rules: list[Any]) -> None:
    fresh, reminded, stale, old_solved = (make_ticket(group=support) for _ in range(4))
    age(fresh, "pending", 10)
    age(reminded, "pending", 80)
    age(stale, "pending", 200)
    age(old_solved, "solved", 100)
    assert engine.time_sweep() == 4  # reminder x2, solve, close
    assert engine.time_sweep() == 0
    for t in (fresh, reminded, stale, old_solved):
        t.refresh_from_db()
    assert (fresh.status, reminded.status, stale.status, old_solved.status) == (
        "pending",
        "pending",
        "solved",
        "closed",
    )
    assert reminded.messages.filter(kind=Message.Kind.SYSTEM).count() == 1
    assert stale.messages.filter(kind=Message.Kind.SYSTEM).count() == 1
    assert fresh.messages.filter(kind=Message.Kind.SYSTEM).count() == 0
    # the stale ticket is now solved: four days later, it is closed
    # four days on: fresh is reminded; reminded is solved, and (solved four days before that
    # clock) closed in the same pass; stale, solved today, is closed
    assert engine.time_sweep(now=timezone.now() + timedelta(hours=97)) == 4
    for t in (fresh, reminded, stale):
        t.refresh_from_db()
    assert (fresh.status, reminded.status, stale.status) == ("pending", "closed", "closed")
    keys = set(stale.events.filter(kind="automation").values_list("dedupe_key", flat=True))
    assert len(keys) == 3 and all(k.startswith("time:") for k in keys)


def test_a_new_state_acts_again(support: Group, time_rules: list[Any], agent: Any) -> None:
    ticket = make_ticket(group=support)
    age(ticket, "pending", 80)
    assert engine.time_sweep() == 1
    services.ticket_set_status(ticket=ticket, status="open", actor=agent)
    age(ticket, "pending", 80)
    assert engine.time_sweep() == 1
    assert ticket.messages.filter(kind=Message.Kind.SYSTEM).count() == 2


def test_the_due_query_runs_on_the_status_index(time_rules: list[Any]) -> None:
    rule_ = time_rules[0]
    parsed = engine.parse_stored(rule_)
    qs = Ticket.objects.filter(conditions_q(parsed.match, parsed.conditions, timezone.now()))
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = qs.explain()
    assert "Seq Scan" not in plan and "Index" in plan


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_sweeps_act_exactly_once(support: Group) -> None:
    rule(
        "Remind",
        kind="time",
        conditions=[
            {"field": "status", "op": "is", "value": "pending"},
            {"field": "hours_since_status", "op": "gte", "value": 72},
        ],
        actions=[
            {"type": "add_note", "value": "reminder"},
            {"type": "send_reply", "text": "Still there?"},
        ],
    )
    tickets = [make_ticket(group=support) for _ in range(12)]
    for t in tickets:
        age(t, "pending", 100)
    barrier = threading.Barrier(2)
    counts: list[int] = []
    errors: list[BaseException] = []

    def sweep() -> None:
        try:
            barrier.wait()
            counts.append(engine.time_sweep())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert sum(counts) == 12
    assert Message.objects.filter(kind=Message.Kind.NOTE).count() == 12
    assert Message.objects.filter(kind=Message.Kind.SYSTEM).count() == 12
    assert TimeRun.objects.count() == 12


# --- dry run --------------------------------------------------------------------------------


def test_dry_run_lists_what_a_rule_would_touch_and_changes_nothing(
    support: Group, time_rules: list[Any]
) -> None:
    due, young = make_ticket(group=support), make_ticket(group=support)
    age(due, "pending", 80)
    age(young, "pending", 5)
    before = TicketEvent.objects.count()
    assert [t.pk for t in engine.rule_dry_run(rule=time_rules[0])] == [due.pk]
    trig = rule(
        "Refunds",
        events=["ticket_created"],
        conditions=[{"field": "subject", "op": "contains", "value": "refund"}],
        actions=[{"type": "add_tag", "value": "r"}],
    )
    refund = make_ticket(group=support, subject="Refund me")
    assert [t.pk for t in engine.rule_dry_run(rule=trig)] == [refund.pk]
    assert TicketEvent.objects.count() == before + 2  # only the new ticket's own events
    engine.time_sweep()
    assert engine.rule_dry_run(rule=time_rules[0]) == []  # acted on: not touched again


# --- webhooks -------------------------------------------------------------------------------


def test_signature_is_stripe_shaped_and_verifiable() -> None:
    header = webhook_signature(
        secret="whsec_0123456789abcdef", timestamp=1_700_000_000, body='{"a": 1}'
    )
    import hashlib
    import hmac

    expected = hmac.new(b"whsec_0123456789abcdef", b'1700000000.{"a": 1}', hashlib.sha256)
    assert header == f"t=1700000000,v1={expected.hexdigest()}"
    ok = {"secret": "whsec_0123456789abcdef", "header": header, "body": '{"a": 1}'}
    assert webhook_verify(**ok, now=1_700_000_100)
    assert not webhook_verify(**{**ok, "body": '{"a": 2}'}, now=1_700_000_100)
    assert not webhook_verify(**{**ok, "secret": "x" * 22}, now=1_700_000_100)
    assert not webhook_verify(**ok, now=1_700_000_000 + 301)  # a replay, too late
    assert not webhook_verify(secret="s", header="garbage", body="")


@responses.activate
def test_webhook_is_signed_and_retried_until_it_lands(
    support: Group, django_capture_on_commit_callbacks: Any, eager: None
) -> None:
    url = "https://hooks.example.test/helpdesk"
    responses.add(responses.POST, url, json={"error": "busy"}, status=503)
    responses.add(responses.POST, url, body=requests.ConnectionError("reset"))
    responses.add(responses.POST, url, json={"ok": True}, status=200)
    secret = "whsec_" + "k" * 26
    r = rule(
        "Hook",
        events=["ticket_created"],
        actions=[{"type": "webhook", "url": url, "secret": secret}],
    )
    ticket = make_ticket(group=support)
    with django_capture_on_commit_callbacks(execute=True):
        fire(ticket)
    call = WebhookCall.objects.get()
    assert (call.status, call.attempts, call.response_status) == ("sent", 3, 200)
    assert len(responses.calls) == 3
    for sent in (responses.calls[0], responses.calls[2]):
        body = sent.request.body.decode()
        assert body == call.body
        assert webhook_verify(
            secret=secret, header=sent.request.headers[SIGNATURE_HEADER], body=body
        )
    payload = json.loads(call.body)
    assert payload["ticket"]["number"] == ticket.number and payload["rule"]["id"] == r.pk


@responses.activate
def test_a_refused_webhook_is_not_retried(
    support: Group, django_capture_on_commit_callbacks: Any, eager: None
) -> None:
    url = "https://hooks.example.test/gone"
    responses.add(responses.POST, url, json={"error": "no such hook"}, status=410)
    rule(
        "Hook",
        events=["ticket_created"],
        actions=[{"type": "webhook", "url": url, "secret": "s" * 20}],
    )
    with django_capture_on_commit_callbacks(execute=True):
        fire(make_ticket(group=support))
    call = WebhookCall.objects.get()
    assert (call.status, call.attempts, call.response_status) == ("failed", 1, 410)
    assert len(responses.calls) == 1


def test_beat_schedule_is_registered() -> None:
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="tickets.automation.tasks.sweep_time_rules")
    assert task.enabled and task.queue == "sla" and task.interval.every == 300


# --- durably in Celery ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_committed_change_runs_the_triggers_and_their_chain_in_a_real_worker(
    support: Group, agent: Any, live_worker: Any
) -> None:
    import time

    rule(
        "Urgent tag",
        events=["priority_changed"],
        position=1,
        conditions=[{"field": "priority", "op": "is", "value": 4}],
        actions=[{"type": "add_tag", "value": "urgent"}],
    )
    rule(
        "Urgent note",
        events=["tag_added"],
        position=2,
        conditions=[{"field": "tags", "op": "includes", "value": "urgent"}],
        actions=[{"type": "add_note", "value": "Escalated by rule."}],
    )
    ticket = make_ticket(group=support)
    services.ticket_set_priority(ticket=ticket, priority=4, actor=agent)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not ticket.messages.filter(kind="note").exists():
        time.sleep(0.1)
    assert ticket.tags.filter(name="urgent").exists()
    note = ticket.messages.get(kind="note")
    assert note.text == "Escalated by rule."
    # the note came one step down the chain: the tag event carried the first rule's id
    runs = [run for run in TriggerRun.objects.filter(event__ticket=ticket) if run.fired]
    assert sorted(run.depth for run in runs) == [0, 1]


def test_the_activity_panel_names_the_rule_and_what_it_did(support: Group) -> None:
    from tickets.selectors import ticket_activity

    rule(
        "Tagger",
        events=["ticket_created"],
        actions=[
            {"type": "add_tag", "value": "seen"},
            {"type": "notify_agents", "to": "assignee", "text": "x"},
        ],
    )
    ticket = make_ticket(group=support)
    fire(ticket)
    summaries = [line.summary for line in ticket_activity(ticket)]
    assert "Rule “Tagger”: add_tag (seen)" in summaries
    assert any(s.startswith("Rule “Tagger”: notify_agents (failed: Nobody") for s in summaries)

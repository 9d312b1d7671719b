"""SLA on real tickets: the timeline adapter, which policy applies, the live path after commit,
the stored due columns and targets, and the breach sweep recording each breach exactly once."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from tests.factories import ContactFactory, OrganisationFactory, make_ticket
from tickets import services, sla_events
from tickets.calendar_models import Calendar
from tickets.models import Group, Message, Ticket, TicketEvent
from tickets.sla import AgentReply, CustomerMessage, Opened, Other, PriorityChange, StatusChange
from tickets.sla_models import SlaMilestone, SlaPolicy, SlaTarget
from tickets.sla_services import (
    PolicyInput,
    SlaPolicyError,
    policy_for,
    sla_policy_create,
    sla_policy_move,
    sla_sweep,
    sla_timeline,
    ticket_sla,
    ticket_sla_recompute,
)
from tickets.types import IncomingMessage

TARGETS = {
    "urgent": {"first_reply": 15, "next_reply": 30, "resolution": 120},
    "normal": {"first_reply": 60, "next_reply": 120, "resolution": 480},
}


def policy_input(**overrides: Any) -> PolicyInput:
    values: dict[str, Any] = {
        "name": "Standard",
        "position": None,
        "conditions": {},
        "calendar_id": None,
        "targets": TARGETS,
        "pause_on": ["pending", "on_hold"],
        "pause_targets": ["resolution"],
    }
    values.update(overrides)
    return PolicyInput(**values)


def ago(minutes: float) -> Any:
    return timezone.now() - timedelta(minutes=minutes)


@pytest.fixture
def standard(db: Any) -> SlaPolicy:
    return sla_policy_create(data=policy_input())


def test_the_timeline_reads_messages_and_status_and_priority_events(
    agent: Any, support: Group
) -> None:
    ticket = make_ticket(group=support, priority=Ticket.Priority.HIGH)
    services.ticket_note(ticket=ticket, author=agent, text="internal")
    services.ticket_auto_message(
        ticket=ticket,
        subject="We got it",
        text="Thanks",
        channel=ticket.channel,
        channel_account_id=None,
        external_id="",
        metadata={},
    )
    services.ticket_set_priority(ticket=ticket, priority=Ticket.Priority.URGENT, actor=agent)
    services.ticket_reply(ticket=ticket, author=agent, text="On it", status="pending")
    entries = sla_timeline(ticket)
    kinds = [type(e) for e in entries]
    assert kinds[0] is Opened and entries[0].priority == "high"  # type: ignore[union-attr]
    assert CustomerMessage in kinds and AgentReply in kinds and PriorityChange in kinds
    others = [e.kind for e in entries if isinstance(e, Other)]
    assert "note" in others and "automatic" in others
    statuses = [e.to for e in entries if isinstance(e, StatusChange)]
    assert statuses[-1] == "pending"
    assert [e.at for e in entries] == sorted(e.at for e in entries)


def test_the_first_matching_policy_by_position_applies(
    db: Any, support: Group, billing: Group
) -> None:
    org = OrganisationFactory(name="Acme")
    catch_all = sla_policy_create(data=policy_input(name="Everyone", position=10))
    vip = sla_policy_create(
        data=policy_input(
            name="Acme billing",
            position=1,
            conditions={"group": ["Billing"], "organisation": ["Acme"], "channel": ["email"]},
        )
    )
    tagged = sla_policy_create(
        data=policy_input(name="Refunds", position=2, conditions={"tags": ["refund"]})
    )
    acme = ContactFactory(organisation=org)
    assert policy_for(make_ticket(contact=acme, group=billing)) == vip
    assert policy_for(make_ticket(contact=acme, group=support)) == catch_all
    assert policy_for(make_ticket(contact=acme, group=billing, channel="chat")) == catch_all
    refund = make_ticket(group=support)
    services.ticket_set_tags(ticket=refund, names=["refund"], actor=None)
    assert policy_for(refund) == tagged
    sla_policy_move(policy=catch_all, offset=-5)
    assert policy_for(refund) == catch_all


def test_the_live_path_stores_due_times_after_commit(
    agent: Any, support: Group, standard: SlaPolicy, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        ticket = make_ticket(group=support)
    ticket.refresh_from_db()
    assert ticket.sla_policy == standard
    assert ticket.first_reply_due_at == ticket.created_at + timedelta(minutes=60)
    assert ticket.resolution_due_at == ticket.created_at + timedelta(minutes=480)
    assert ticket.sla_due_at == ticket.first_reply_due_at == ticket.sla_next_due_at
    with django_capture_on_commit_callbacks(execute=True):
        services.ticket_set_priority(ticket=ticket, priority=Ticket.Priority.URGENT, actor=agent)
    ticket.refresh_from_db()
    assert ticket.first_reply_due_at == ticket.created_at + timedelta(minutes=15)
    with django_capture_on_commit_callbacks(execute=True):
        reply = services.ticket_reply(ticket=ticket, author=agent, text="Hello")
    ticket.refresh_from_db()
    assert ticket.first_reply_due_at is None
    assert ticket.sla_due_at == ticket.resolution_due_at
    first = SlaTarget.objects.get(ticket=ticket, metric="first_reply")
    assert first.completed_at == reply.created_at and first.breached_at is None
    event = TicketEvent.objects.get(ticket=ticket, kind=sla_events.ACHIEVED)
    assert event.new["metric"] == "first_reply"
    assert event.occurred_at == reply.created_at  # when it happened, not when it was seen


def test_policy_is_re_evaluated_when_the_group_changes(
    agent: Any, support: Group, billing: Group, django_capture_on_commit_callbacks: Any
) -> None:
    sla_policy_create(data=policy_input(name="Billing", conditions={"group": ["Billing"]}))
    with django_capture_on_commit_callbacks(execute=True):
        ticket = make_ticket(group=support)
    ticket.refresh_from_db()
    assert ticket.sla_policy is None and ticket.sla_due_at is None
    with django_capture_on_commit_callbacks(execute=True):
        services.ticket_set_group(ticket=ticket, group=billing, actor=agent)
    ticket.refresh_from_db()
    assert ticket.sla_policy is not None and ticket.first_reply_due_at is not None


def test_a_business_calendar_policy_counts_open_hours(db: Any, support: Group) -> None:
    calendar = Calendar.objects.create(
        name="Office", timezone="UTC", hours={d: [["09:00", "17:00"]] for d in ["mon", "tue"]}
    )
    sla_policy_create(data=policy_input(calendar_id=calendar.pk))
    friday = datetime(2026, 12, 4, 16, 30, tzinfo=UTC)
    ticket = make_ticket(group=support, created_at=friday)
    first = next(t for t in ticket_sla(ticket, now=friday).targets if t.metric == "first_reply")
    assert first.due_at == datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def test_the_sweep_records_a_breach_once_at_the_due_instant(
    db: Any, support: Group, standard: SlaPolicy
) -> None:
    ticket = make_ticket(group=support, created_at=ago(90))
    ticket_sla_recompute(ticket_id=ticket.pk, now=ago(89))
    ticket.refresh_from_db()
    assert ticket.sla_next_due_at == ticket.created_at + timedelta(minutes=60)
    assert sla_sweep() == 1
    milestone = SlaMilestone.objects.get(ticket=ticket)
    assert milestone.kind == "breached" and milestone.at == ticket.created_at + timedelta(hours=1)
    event = TicketEvent.objects.get(ticket=ticket, kind=sla_events.BREACHED)
    assert event.occurred_at == milestone.at and event.actor_kind == "system"
    assert event.payload == {
        "metric": "first_reply",
        "cycle": 0,
        "due_at": milestone.at.isoformat(),
    }
    ticket.refresh_from_db()
    assert ticket.sla_breached and ticket.sla_due_at == milestone.at
    assert ticket.sla_next_due_at == ticket.created_at + timedelta(minutes=480)
    assert sla_sweep() == 0 and ticket_sla_recompute(ticket_id=ticket.pk).breached == 0
    assert TicketEvent.objects.filter(ticket=ticket, kind=sla_events.BREACHED).count() == 1


def test_solving_clears_every_due_column(
    agent: Any, support: Group, standard: SlaPolicy, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        ticket = make_ticket(group=support)
        services.ticket_reply(ticket=ticket, author=agent, text="Hi", status="solved")
    ticket.refresh_from_db()
    assert ticket.sla_due_at is None and ticket.sla_next_due_at is None
    assert ticket.first_reply_due_at is ticket.next_reply_due_at is ticket.resolution_due_at is None
    assert SlaTarget.objects.get(ticket=ticket, metric="resolution").completed_at is not None


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_sweeps_record_each_breach_exactly_once(support: Group) -> None:
    # tickets first (the live path finds no policy), then the policy, stored as of 599 min ago
    tickets = [make_ticket(group=support, created_at=ago(600)) for _ in range(12)]
    SlaPolicy.objects.create(name="Standard", targets=TARGETS)
    for ticket in tickets:
        ticket_sla_recompute(ticket_id=ticket.pk, now=ago(599))
    barrier = threading.Barrier(2)
    counts: list[int] = []
    errors: list[BaseException] = []

    def sweep() -> None:
        try:
            barrier.wait()
            counts.append(sla_sweep())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    # first reply (60) and resolution (480) of every ticket are past due: two breaches each
    assert sum(counts) == 24
    assert SlaMilestone.objects.filter(kind="breached").count() == 24
    assert TicketEvent.objects.filter(kind=sla_events.BREACHED).count() == 24
    assert sla_sweep() == 0


def test_policy_input_errors_name_the_field(db: Any, standard: SlaPolicy) -> None:
    cases = [
        ({"name": " "}, "name", "needs a name"),
        ({"name": "Standard"}, "name", "exists already"),
        ({"name": "x", "conditions": {"group": "Billing"}}, "conditions", "list of names"),
        ({"name": "x", "conditions": {"colour": ["red"]}}, "conditions", "Unknown condition"),
        ({"name": "x", "targets": {"urgent": {"first_reply": -1}}}, "targets", "between"),
        ({"name": "x", "pause_on": ["solved"]}, "pause_on", "cannot pause"),
        ({"name": "x", "calendar_id": 999999}, "calendar", "No calendar"),
    ]
    for overrides, field, message in cases:
        with pytest.raises(SlaPolicyError, match=message) as info:
            sla_policy_create(data=policy_input(**overrides))
        assert info.value.field == field
    assert SlaPolicy.objects.count() == 1


def test_sla_recompute_command_replays_open_tickets(
    db: Any, support: Group, standard: SlaPolicy
) -> None:
    open_ticket = make_ticket(group=support)
    solved = make_ticket(group=support)
    services.ticket_set_status(ticket=solved, status="solved", actor=None)
    out = StringIO()
    call_command("sla_recompute", stdout=out)
    assert out.getvalue().startswith("1 tickets replayed")
    assert Ticket.objects.get(pk=open_ticket.pk).sla_due_at is not None
    call_command("sla_recompute", "--all", stdout=out)
    assert "2 tickets replayed" in out.getvalue()
    assert SlaTarget.objects.filter(ticket=solved, metric="resolution").exists()


def test_conditions_match_groups_by_name_even_one_made_later(db: Any) -> None:
    policy = sla_policy_create(data=policy_input(conditions={"group": ["Escalations"]}))
    assert policy.conditions == {"group": ["Escalations"]}
    team = Group.objects.create(name="Escalations")
    assert policy_for(make_ticket(group=team)) == policy
    assert policy_for(make_ticket()) is None


def test_a_customer_message_after_a_reply_starts_next_reply_live(
    agent: Any, support: Group, standard: SlaPolicy, django_capture_on_commit_callbacks: Any
) -> None:
    contact = ContactFactory(email="nina@example.test")
    with django_capture_on_commit_callbacks(execute=True):
        ticket = make_ticket(group=support, contact=contact)
        services.ticket_reply(ticket=ticket, author=agent, text="Which printer?", status="open")
    with django_capture_on_commit_callbacks(execute=True):
        result = services.message_ingest(
            incoming=IncomingMessage(
                channel="email",
                identity_kind="email",
                identity_value="nina@example.test",
                target_ticket_id=ticket.pk,
                text="The one on floor 3.",
            )
        )
    ticket.refresh_from_db()
    assert result.ticket_id == ticket.pk
    arrived = Message.objects.get(pk=result.message_id).created_at
    assert ticket.next_reply_due_at == arrived + timedelta(minutes=120)
    assert ticket.first_reply_due_at is None
    # a note does not answer it; an agent reply does
    with django_capture_on_commit_callbacks(execute=True):
        services.ticket_note(ticket=ticket, author=agent, text="Floor 3 is Bob's")
    ticket.refresh_from_db()
    assert ticket.next_reply_due_at is not None
    with django_capture_on_commit_callbacks(execute=True):
        services.ticket_reply(ticket=ticket, author=agent, text="Fixed.")
    ticket.refresh_from_db()
    assert ticket.next_reply_due_at is None


def _wait_for(check: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail("the worker did not finish in time")
        time.sleep(0.1)


@pytest.mark.django_db(transaction=True)
def test_the_sla_tasks_run_on_a_real_worker(support: Group, live_worker: Any) -> None:
    from tickets.tasks import sla_recompute_ticket
    from tickets.tasks import sla_sweep as sweep_task

    ticket = make_ticket(group=support, created_at=ago(120))  # no policy yet: nothing stored
    SlaPolicy.objects.create(name="Standard", targets=TARGETS)
    sla_recompute_ticket.delay(ticket.pk)
    _wait_for(lambda: Ticket.objects.filter(pk=ticket.pk, sla_breached=True).exists())
    assert SlaMilestone.objects.filter(ticket=ticket, kind="breached").count() == 1
    # as of 9 hours ago nothing had breached; the beat's task records both breaches since
    late = make_ticket(group=support, created_at=ago(600))
    ticket_sla_recompute(ticket_id=late.pk, now=ago(599))
    sweep_task.delay()
    _wait_for(lambda: SlaMilestone.objects.filter(ticket=late, kind="breached").count() == 2)
    assert TicketEvent.objects.filter(ticket=late, kind=sla_events.BREACHED).count() == 2

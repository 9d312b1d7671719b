"""The event log is the ticket's complete, typed history: one writer, typed payloads checked on
write, the time a thing happened apart from when it was written, who acted as what, the
ticket's fields after each change, and actions keyed to happen once."""

from __future__ import annotations

import importlib
import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import close_old_connections, transaction
from django.urls import reverse
from django.utils import timezone

from tests.conftest import client_for
from tests.factories import ContactFactory, make_agent, make_ticket
from tickets import event_types as et
from tickets import services
from tickets.models import ActorKind, Channel, Group, Message, Ticket, TicketEvent
from tickets.types import IncomingMessage

pytestmark = pytest.mark.django_db


def last(ticket: Ticket, kind: str) -> TicketEvent:
    return ticket.events.filter(kind=kind).latest("id")


def assert_snapshot(event: TicketEvent, ticket: Ticket) -> None:
    ticket.refresh_from_db()
    assert (event.status, event.priority, event.group_id, event.assignee_id) == (
        ticket.status,
        ticket.priority,
        ticket.group_id,
        ticket.assignee_id,
    )


# --- typed payloads ---------------------------------------------------------------------------


def test_every_kind_has_a_payload_type() -> None:
    assert set(TicketEvent.Kind.values) == set(et.PAYLOAD_TYPES)


@pytest.mark.parametrize(
    ("kind", "payload", "error"),
    [
        ("status", {"old": "open"}, "new is required"),
        ("status", {"old": "open", "new": "lost"}, "unknown status 'lost'"),
        ("priority", {"old": 2, "new": "3"}, "whole number"),
        ("priority", {"old": 2, "new": True}, "whole number"),
        ("tags", {"old": [], "new": "vip"}, "a list"),
        ("tags", {"old": [], "new": [1]}, "a string"),
        ("reply", {"message": 1, "channel": "email", "extra": 1}, "unknown field"),
        ("note", {"message": 1, "call": {"direction": "inbound"}}, "duration_seconds is required"),
        (
            "note",
            {
                "message": 1,
                "call": {"direction": "up", "duration_seconds": 1, "notes": "", "agent": 1},
            },
            "not one of",
        ),
        ("csat", {"rating": 6}, "between 1 and 5"),
        ("merged", ["source", 1], "an object"),
        ("nonsense", {}, "unknown event kind"),
    ],
)
def test_a_wrong_payload_is_refused(kind: str, payload: Any, error: str) -> None:
    with pytest.raises(et.InvalidPayload, match=error):
        et.payload_for(kind, payload)


def test_a_payload_of_another_kind_is_refused() -> None:
    with pytest.raises(et.InvalidPayload, match="takes a PriorityChange"):
        et.payload_for("priority", et.StatusChange(old="new", new="open"))


def test_a_good_payload_round_trips() -> None:
    note = et.Note(
        message=3, call=et.Call(direction="inbound", duration_seconds=5, notes="", agent=1)
    )
    stored = et.payload_json("note", note)
    assert stored == {
        "message": 3,
        "call": {"direction": "inbound", "duration_seconds": 5, "notes": "", "agent": 1},
    }
    assert et.payload_for("note", stored) == note


def test_the_writer_refuses_a_wrong_event_and_writes_nothing(support: Group) -> None:
    ticket = make_ticket(group=support)
    before = ticket.events.count()
    with pytest.raises(et.InvalidPayload):
        services.event_record(
            ticket=ticket, kind="status", actor_kind="system", payload={"new": "gone"}
        )
    with pytest.raises(et.InvalidEvent, match="actor kind"):
        services.event_record(
            ticket=ticket, kind="csat", actor_kind="robot", payload=et.Csat(rating=4)
        )
    with pytest.raises(et.InvalidEvent, match="at most 200"):
        services.event_record(
            ticket=ticket,
            kind="csat",
            actor_kind="customer",
            payload=et.Csat(rating=4),
            dedupe_key="k" * 201,
        )
    with pytest.raises(et.InvalidEvent, match="timezone-aware"):
        services.event_record(
            ticket=ticket,
            kind="csat",
            actor_kind="customer",
            payload=et.Csat(rating=4),
            occurred_at=timezone.now().replace(tzinfo=None),
        )
    assert ticket.events.count() == before


def test_a_readers_payload_is_the_dataclass(support: Group) -> None:
    ticket = make_ticket(group=support)
    event = services.event_record(
        ticket=ticket, kind="csat", actor_kind="customer", payload={"rating": 5, "comment": "ok"}
    )
    assert et.payload_of(event) == et.Csat(rating=5, comment="ok")


# --- every service writes its event -----------------------------------------------------------


def test_opening_a_ticket_writes_created_and_the_first_customer_message(support: Group) -> None:
    contact = ContactFactory()
    ticket = make_ticket(contact=contact, group=support)
    created, message = ticket.events.order_by("id")
    first = ticket.messages.get()
    assert created.kind == "created" and created.actor_kind == "customer"
    assert created.payload == {"channel": "email", "subject": ticket.subject, "message": first.pk}
    assert message.kind == "message" and message.actor_contact == contact
    assert message.actor_kind == "customer" and message.occurred_at == first.created_at
    assert message.payload == {
        "message": first.pk,
        "channel": "email",
        "flag": "",
        "automatic": False,
    }
    assert_snapshot(message, ticket)
    assert (message.status, message.group_id) == ("new", support.pk)


def test_an_agent_opening_a_ticket_acts_as_agent(agent: Any, support: Group) -> None:
    ticket = make_ticket(group=support, actor=agent)
    created = last(ticket, "created")
    assert created.actor == agent and created.actor_kind == "agent"
    assert last(ticket, "message").actor_kind == "customer"  # the words are the customer's


def test_a_portal_customer_opening_a_ticket_acts_as_customer(customer: Any) -> None:
    ticket = make_ticket(contact=customer.contact, channel=Channel.WEB, actor=customer)
    created = last(ticket, "created")
    assert created.actor == customer and created.actor_kind == "customer"


def test_each_field_change_records_its_values_actor_kind_and_snapshot(
    agent: Any, billing: Group, support: Group, supervisor: Any
) -> None:
    ticket = make_ticket(group=support)
    ticket = services.ticket_assign(ticket=ticket, agent=agent, actor=agent)
    assigned, opened = last(ticket, "assignee"), last(ticket, "status")
    assert assigned.payload == {"old": None, "new": agent.pk}
    assert opened.payload == {"old": "new", "new": "open", "reason": "assigned"}
    assert assigned.assignee_id == agent.pk and opened.status == "open"
    ticket = services.ticket_set_priority(ticket=ticket, priority=4, actor=agent)
    assert last(ticket, "priority").payload == {"old": 2, "new": 4}
    ticket = services.ticket_set_tags(ticket=ticket, names=["VIP", "refund"], actor=agent)
    assert last(ticket, "tags").payload == {"old": [], "new": ["refund", "vip"]}
    ticket = services.ticket_set_subject(ticket=ticket, subject="Lost parcel", actor=agent)
    assert last(ticket, "subject").payload["new"] == "Lost parcel"
    ticket = services.ticket_set_status(ticket=ticket, status="on_hold", actor=agent)
    for event in ticket.events.exclude(kind__in=["created", "message"]):
        assert event.actor == agent and event.actor_kind == "agent", event.kind
    assert_snapshot(last(ticket, "status"), ticket)
    # a move to a group the assignee does not work in unassigns them: two events
    ticket = services.ticket_set_group(ticket=ticket, group=billing, actor=supervisor)
    moved, unassigned = last(ticket, "group"), last(ticket, "assignee")
    assert moved.payload == {"old": support.pk, "new": billing.pk}
    assert moved.group_id == billing.pk and moved.assignee_id == agent.pk
    assert unassigned.payload == {"old": agent.pk, "new": None}
    assert unassigned.assignee_id is None and unassigned.id > moved.id
    assert_snapshot(unassigned, ticket)


def test_a_change_with_nobody_behind_it_is_the_systems(support: Group) -> None:
    ticket = make_ticket(group=support)
    ticket = services.ticket_set_status(ticket=ticket, status="solved", actor=None)
    event = last(ticket, "status")
    assert event.actor is None and event.actor_kind == "system"


def test_automation_says_so_and_keeps_its_time(support: Group) -> None:
    ticket = make_ticket(group=support)
    at = timezone.now() - timedelta(minutes=30)
    ticket = services.ticket_set_priority(
        ticket=ticket, priority=3, actor=None, actor_kind=ActorKind.AUTOMATION, occurred_at=at
    )
    event = last(ticket, "priority")
    assert event.actor_kind == "automation" and event.occurred_at == at
    assert event.recorded_at > at


def test_replies_notes_and_calls_record_their_messages(agent: Any, support: Group) -> None:
    ticket = make_ticket(group=support)
    reply = services.ticket_reply(ticket=ticket, author=agent, text="On it.")
    event = last(ticket, "reply")
    assert event.payload == {"message": reply.pk, "channel": "email"}
    assert event.actor_kind == "agent" and event.occurred_at == reply.created_at
    assert_snapshot(event, ticket)
    assert event.status == "pending" and event.assignee_id == agent.pk
    note = services.ticket_note(ticket=ticket, author=agent, text="Internal.")
    assert last(ticket, "note").payload == {"message": note.pk, "call": None}
    call = services.call_log(
        ticket=ticket,
        agent=agent,
        direction="outbound",
        duration_seconds=65,
        notes="Left a message",
    )
    logged = last(ticket, "note")
    assert logged.payload["message"] == call.pk
    assert logged.payload["call"] == {
        "direction": "outbound",
        "duration_seconds": 65,
        "notes": "Left a message",
        "agent": agent.pk,
    }


def test_a_bot_reply_is_no_agent_reply(support: Group) -> None:
    ticket = make_ticket(group=support)
    message = services.ticket_reply(
        ticket=ticket, author=None, text="Try turning it off and on.", actor_kind=ActorKind.BOT
    )
    ticket.refresh_from_db()
    event = last(ticket, "bot_reply")
    assert event.actor_kind == "bot" and event.payload["message"] == message.pk
    assert not ticket.events.filter(kind="reply").exists()
    assert ticket.first_response_at is None and ticket.status == "new"
    assert ticket.assignee_id is None


def test_an_automatic_message_writes_its_event(support: Group) -> None:
    ticket = make_ticket(group=support)
    message = services.ticket_auto_message(
        ticket=ticket,
        subject="We got it",
        text="Thanks, we are on it.",
        channel="email",
        channel_account_id=None,
        external_id="<ack@desk.test>",
        metadata={"purpose": "acknowledgement"},
    )
    event = last(ticket, "auto_message")
    assert event.actor_kind == "system"
    assert event.payload == {
        "message": message.pk,
        "channel": "email",
        "purpose": "acknowledgement",
    }
    assert not ticket.events.filter(kind="reply").exists()


def test_a_merge_writes_on_both_tickets(agent: Any, support: Group) -> None:
    source, target = make_ticket(group=support), make_ticket(group=support)
    services.ticket_merge(source=source, target=target, actor=agent)
    for side in (source, target):
        event = last(side, "merged")
        assert event.payload == {"source": source.number, "target": target.number, "messages": 1}
        assert event.actor_kind == "agent"
        assert_snapshot(event, side)
    closed = last(source, "status")
    assert closed.payload == {"old": "new", "new": "closed", "reason": "merged"}


def test_a_contact_merge_writes_on_each_moved_ticket(supervisor: Any, support: Group) -> None:
    keep, dupe = ContactFactory(), ContactFactory()
    moved = [make_ticket(contact=dupe, group=support) for _ in range(2)]
    services.contact_merge(source=dupe, target=keep, actor=supervisor)
    for ticket in moved:
        event = last(ticket, "contact")
        assert event.payload == {"old": dupe.pk, "new": keep.pk, "reason": "contacts merged"}
        assert event.actor_kind == "agent"


def test_changing_the_requester_writes_its_event(agent: Any, support: Group) -> None:
    ticket = make_ticket(group=support)
    other = ContactFactory()
    old = ticket.contact_id
    services.ticket_set_contact(ticket=ticket, contact=other, actor=agent)
    event = last(ticket, "contact")
    assert event.payload == {"old": old, "new": other.pk, "reason": "requester changed"}


def test_deliveries_that_fail_or_succeed_are_events(support: Group) -> None:
    ticket = make_ticket(group=support)
    message = ticket.messages.get()
    at = timezone.now() - timedelta(minutes=2)
    services.delivery_record_event(
        ticket_id=ticket.pk, message_id=message.pk, status="failed", detail="mailbox full"
    )
    services.delivery_record_event(
        ticket_id=ticket.pk, message_id=message.pk, status="delivered", occurred_at=at
    )
    failed, delivered = ticket.events.filter(kind="delivery").order_by("id")
    assert failed.payload == {"message": message.pk, "status": "failed", "detail": "mailbox full"}
    assert failed.actor_kind == "system"
    assert delivered.payload["status"] == "delivered" and delivered.occurred_at == at


# --- ingest: the message's time, not the worker's ---------------------------------------------


def incoming(text: str, received: Any, **kwargs: Any) -> IncomingMessage:
    return IncomingMessage(
        channel="email",
        identity_kind="email",
        identity_value="late@customer.test",
        subject="Queue lag",
        text=text,
        received_at=received,
        **kwargs,
    )


def test_an_ingested_message_happened_when_it_was_received(agent: Any, support: Group) -> None:
    received = timezone.now() - timedelta(hours=3)  # the queue was 3 hours behind
    result = services.message_ingest(incoming=incoming("First", received, group_id=support.pk))
    ticket = Ticket.objects.get(pk=result.ticket_id)
    for kind in ("created", "message"):
        event = last(ticket, kind)
        assert event.occurred_at == received
        assert event.recorded_at > received + timedelta(hours=2)
    services.ticket_reply(ticket=ticket, author=agent, text="Looking.")
    later = timezone.now() - timedelta(minutes=10)
    second = services.message_ingest(
        incoming=incoming("Still broken", later, target_ticket_id=ticket.pk)
    )
    event = ticket.events.get(kind="message", payload__message=second.message_id)
    assert event.occurred_at == later and event.actor_kind == "customer"
    reopened = last(ticket, "status")
    assert reopened.payload == {"old": "pending", "new": "open", "reason": "customer replied"}
    assert reopened.occurred_at == later
    assert_snapshot(event, ticket)


def test_an_answer_to_a_closed_ticket_links_both_tickets(support: Group) -> None:
    first = services.message_ingest(incoming=incoming("Hi", timezone.now(), group_id=support.pk))
    closed = Ticket.objects.get(pk=first.ticket_id)
    services.ticket_set_status(ticket=closed, status="closed", actor=None)
    follow = services.message_ingest(
        incoming=incoming("Again", timezone.now(), target_ticket_id=closed.pk)
    )
    follow_up = Ticket.objects.get(pk=follow.ticket_id)
    assert follow_up.pk != closed.pk
    link = {"previous": closed.number, "next": follow_up.number}
    assert last(closed, "follow_up").payload == link
    assert last(follow_up, "follow_up").payload == link


# --- exactly once -----------------------------------------------------------------------------


def test_a_known_dedupe_key_returns_the_existing_row(support: Group) -> None:
    ticket = make_ticket(group=support)
    first, made = services.event_record_once(
        ticket=ticket,
        kind="note",
        actor_kind="automation",
        payload=et.Note(message=ticket.messages.get().pk),
        dedupe_key="escalation:1:first_reply:1",
    )
    again, made_again = services.event_record_once(
        ticket=ticket,
        kind="note",
        actor_kind="automation",
        payload=et.Note(message=ticket.messages.get().pk),
        dedupe_key="escalation:1:first_reply:1",
    )
    assert made and not made_again and again.pk == first.pk


def run_together(work: Any, count: int = 2) -> list[Any]:
    """Run `work(i)` in `count` threads at once, each on its own connection."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except BaseException as exc:
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_writers_with_one_key_write_one_event() -> None:
    ticket = make_ticket(group=Group.objects.create(name="Ops"))
    message_id = ticket.messages.get().pk
    inside = threading.Barrier(2)

    def write(i: int) -> tuple[int, bool]:
        with transaction.atomic():
            row, made = services.event_record_once(
                ticket=Ticket.objects.get(pk=ticket.pk),
                kind="note",
                actor_kind="automation",
                payload=et.Note(message=message_id),
                dedupe_key="trigger:7:ticket:1",
            )
            # both are inside their transactions now: the first holds its insert uncommitted
            # while the second's insert waits on the unique index
            try:
                inside.wait(timeout=2)
            except threading.BrokenBarrierError:
                pass  # the loser is blocked in its insert until this one commits
            return row.pk, made

    results = run_together(write)
    assert sorted(made for _, made in results) == [False, True]
    assert len({pk for pk, _ in results}) == 1
    assert TicketEvent.objects.filter(dedupe_key="trigger:7:ticket:1").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_keyed_action_run_twice_at_once_acts_once() -> None:
    ticket = make_ticket(group=Group.objects.create(name="Ops"))

    def escalate(i: int) -> int:
        note = services.ticket_note(
            ticket=Ticket.objects.get(pk=ticket.pk),
            author=None,
            text="Breach in 10 minutes.",
            actor_kind=ActorKind.AUTOMATION,
            dedupe_key=f"escalation:{ticket.pk}:first_reply:1",
        )
        return note.pk

    notes = run_together(escalate)
    assert notes[0] == notes[1]
    assert Message.objects.filter(ticket=ticket, kind="note").count() == 1
    event = TicketEvent.objects.get(dedupe_key=f"escalation:{ticket.pk}:first_reply:1")
    assert event.actor_kind == "automation" and event.payload["message"] == notes[0]


# --- the Django admin goes through the services -----------------------------------------------


def test_an_admin_edit_writes_events_and_read_only_fields_stay(
    admin_user: Any, agent: Any, support: Group
) -> None:
    ticket = make_ticket(group=support)
    url = reverse("admin:tickets_ticket_change", args=[ticket.pk])
    client = client_for(admin_user)
    assert client.get(url).status_code == 200
    response = client.post(
        url,
        {
            "subject": ticket.subject,
            "status": "open",
            "priority": "4",
            "contact": str(ticket.contact_id),
            "group": str(support.pk),
            "assignee": str(agent.pk),
            "message_count": "99",
            "channel": "sms",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    ticket.refresh_from_db()
    assert (ticket.status, ticket.priority, ticket.assignee_id) == ("open", 4, agent.pk)
    assert ticket.message_count == 1 and ticket.channel == "email"  # read-only
    for kind in ("priority", "assignee", "status"):
        event = last(ticket, kind)
        assert event.actor == admin_user and event.actor_kind == "agent", kind
    assert last(ticket, "priority").payload == {"old": 2, "new": 4}
    assert_snapshot(ticket.events.latest("id"), ticket)


def test_the_admin_adds_no_tickets_and_edits_no_messages(admin_user: Any, support: Group) -> None:
    ticket = make_ticket(group=support)
    client = client_for(admin_user)
    assert client.get(reverse("admin:tickets_ticket_add")).status_code == 403
    message = ticket.messages.get()
    change = reverse("admin:tickets_message_change", args=[message.pk])
    client.post(change, {"text": "rewritten", "kind": "note"})
    message.refresh_from_db()
    assert message.text != "rewritten"


def test_an_admin_edit_the_rules_refuse_changes_nothing(admin_user: Any, support: Group) -> None:
    ticket = make_ticket(group=support)
    stranger_group = Group.objects.create(name="Elsewhere")
    bob = make_agent("bob2", groups=[stranger_group])
    url = reverse("admin:tickets_ticket_change", args=[ticket.pk])
    response = client_for(admin_user).post(
        url,
        {
            "subject": ticket.subject,
            "status": "new",
            "priority": "3",
            "contact": str(ticket.contact_id),
            "group": str(support.pk),
            "assignee": str(bob.pk),
        },
        follow=True,
    )
    assert "Not saved" in response.content.decode()
    ticket.refresh_from_db()
    assert ticket.assignee_id is None and ticket.priority == 2
    assert not ticket.events.filter(kind__in=["assignee", "priority"]).exists()


# --- the migration fills old rows -------------------------------------------------------------

migration = importlib.import_module("tickets.migrations.0004_event_log")


def test_the_fill_rebuilds_payloads_actor_kinds_and_snapshots() -> None:
    t0 = timezone.now() - timedelta(days=3)
    at = [t0 + timedelta(minutes=i) for i in range(10)]
    ticket = {
        "id": 1,
        "number": 501,
        "channel": "email",
        "subject": "Broken",
        "status": "pending",  # what it is now
        "priority": 4,
        "group_id": 20,
        "assignee_id": 7,
    }
    messages = [
        {
            "id": 100,
            "kind": "customer",
            "channel": "email",
            "author_contact_id": 9,
            "is_automatic": False,
            "metadata": {},
            "created_at": at[0],
        },
        {
            "id": 101,
            "kind": "system",
            "channel": "email",
            "author_contact_id": None,
            "is_automatic": True,
            "metadata": {"purpose": "acknowledgement"},
            "created_at": at[1],
        },
        {
            "id": 102,
            "kind": "reply",
            "channel": "email",
            "author_contact_id": None,
            "is_automatic": False,
            "metadata": {},
            "created_at": at[4],
        },
    ]
    old = [
        (1, "created", None, 9, None, {"channel": "email", "subject": "Broken"}, at[0]),
        (2, "priority", 7, None, 2, 4, at[2]),
        (3, "assignee", 7, None, None, 7, at[3]),
        (4, "status", 7, None, "new", "open", at[3]),
        (5, "reply", 7, None, None, {"message": 102}, at[4]),
        (6, "status", 7, None, "open", "pending", at[4]),
        (7, "merged", 7, None, None, {"from": 499, "messages": 2}, at[5]),
        (8, "contact", 8, None, {"contact": 3, "name": "A"}, {"contact": 9, "reason": "x"}, at[6]),
        (9, "delivery", None, None, None, {"message": 102, "status": "sent", "detail": ""}, at[7]),
    ]
    events = [
        dict(
            zip(
                ["id", "kind", "actor_id", "actor_contact_id", "old", "new", "created_at"],
                row,
                strict=True,
            )
        )
        for row in old
    ]
    updates, created = migration.fill_ticket(ticket, events, messages, agent_ids={7})
    by_id = {u["id"]: u for u in updates}
    assert {u["id"] for u in updates} == set(range(1, 10))
    for u in updates:  # every rebuilt payload fits the typed log
        kind = next(e["kind"] for e in events if e["id"] == u["id"])
        et.payload_for(kind, u["payload"])
        assert u["occurred_at"] == next(e["created_at"] for e in events if e["id"] == u["id"])
    assert by_id[1]["payload"] == {"channel": "email", "subject": "Broken", "message": 100}
    assert by_id[1]["actor_kind"] == "customer"
    assert by_id[2]["actor_kind"] == "agent" and by_id[8]["actor_kind"] == "customer"
    assert by_id[9]["actor_kind"] == "system"
    assert by_id[7]["payload"] == {"source": 499, "target": 501, "messages": 2}
    assert by_id[8]["payload"] == {"old": 3, "new": 9, "reason": "x"}
    # snapshots replayed from the log: before the first priority change it was 2, etc.
    assert (by_id[1]["status"], by_id[1]["priority"], by_id[1]["assignee_id"]) == ("new", 2, None)
    assert (by_id[2]["priority"], by_id[3]["assignee_id"], by_id[4]["status"]) == (4, 7, "open")
    assert by_id[6]["status"] == "pending" and by_id[9]["group_id"] == 20
    # the first customer message and the acknowledgement get the events they lacked
    kinds = {c["kind"]: c for c in created}
    assert set(kinds) == {"message", "auto_message"}
    assert kinds["message"]["occurred_at"] == at[0]
    assert kinds["message"]["actor_kind"] == "customer"
    assert kinds["message"]["payload"]["message"] == 100
    assert kinds["auto_message"]["payload"] == {
        "message": 101,
        "channel": "email",
        "purpose": "acknowledgement",
    }
    assert kinds["auto_message"]["status"] == "new"
    for row in created:
        et.payload_for(row["kind"], row["payload"])


def test_the_fill_keeps_current_values_where_the_log_says_nothing() -> None:
    ticket = {
        "id": 2,
        "number": 9,
        "channel": "chat",
        "subject": "Hi",
        "status": "open",
        "priority": 3,
        "group_id": 4,
        "assignee_id": None,
    }
    events = [
        {
            "id": 1,
            "kind": "note",
            "actor_id": 5,
            "actor_contact_id": None,
            "old": None,
            "new": {"message": 1},
            "created_at": timezone.now(),
        }
    ]
    updates, created = migration.fill_ticket(ticket, events, [], agent_ids={5})
    assert created == []
    [note] = updates
    assert (note["status"], note["priority"], note["group_id"]) == ("open", 3, 4)
    assert note["payload"] == {"message": 1, "call": None}


@pytest.mark.django_db(transaction=True)
def test_the_migration_fills_rows_written_before_it() -> None:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before, after = [("tickets", "0003_ticket_updated_index")], [("tickets", "0004_event_log")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps
        group = old.get_model("tickets", "Group").objects.create(name="Old team")
        contact = old.get_model("tickets", "Contact").objects.create(name="Old customer")
        ticket = old.get_model("tickets", "Ticket").objects.create(
            subject="Old", contact=contact, group=group, status="open", priority=3
        )
        at = timezone.now() - timedelta(days=30)
        message = old.get_model("tickets", "Message").objects.create(
            ticket=ticket, kind="customer", channel="email", author_contact=contact, created_at=at
        )
        events = old.get_model("tickets", "TicketEvent").objects
        events.create(
            ticket=ticket,
            kind="created",
            actor_contact=contact,
            new={"channel": "email", "subject": "Old"},
            created_at=at,
        )
        events.create(ticket=ticket, kind="status", old="new", new="open", created_at=at)
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert after[0] in MigrationExecutor(connection).loader.applied_migrations
    rows = list(TicketEvent.objects.filter(ticket_id=ticket.pk).order_by("occurred_at", "id"))
    assert [r.kind for r in rows] == ["created", "status", "message"]
    created, status, first = rows
    assert created.occurred_at == at and created.actor_kind == "customer"
    assert created.payload == {"channel": "email", "subject": "Old", "message": message.pk}
    assert (created.status, status.status, status.priority, status.group_id) == (
        "new",
        "open",
        3,
        group.pk,
    )
    assert status.payload == {"old": "new", "new": "open", "reason": ""}
    assert status.actor_kind == "system"
    assert first.payload["message"] == message.pk and first.occurred_at == at


def test_editing_a_contact_writes_on_its_active_tickets(agent: Any, support: Group) -> None:
    contact = ContactFactory(name="Pat")
    active = make_ticket(contact=contact, group=support)
    done = make_ticket(contact=contact, group=support)
    services.ticket_set_status(ticket=done, status="closed", actor=agent)
    services.contact_update(
        contact=contact, name="Pat Jones", organisation=None, notes="", actor=agent
    )
    event = last(active, "contact")
    assert event.payload == {
        "old": contact.pk,
        "new": contact.pk,
        "reason": "contact's name changed",
    }
    assert event.actor == agent and event.actor_kind == "agent"
    assert not done.events.filter(kind="contact").exists()  # a closed ticket's history is final
    services.contact_update(contact=contact, name="Pat Jones", organisation=None, notes="x")
    assert active.events.filter(kind="contact").count() == 1  # notes alone: no ticket changed


def test_a_contact_edited_in_the_admin_goes_through_its_service(
    admin_user: Any, support: Group
) -> None:
    contact = ContactFactory(name="Pat")
    ticket = make_ticket(contact=contact, group=support)
    url = reverse("admin:tickets_contact_change", args=[contact.pk])
    response = client_for(admin_user).post(
        url,
        {
            "name": "Pat Jones",
            "organisation": "",
            "notes": "",
            "identities-TOTAL_FORMS": "0",
            "identities-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    contact.refresh_from_db()
    assert contact.name == "Pat Jones"
    event = last(ticket, "contact")
    assert event.actor == admin_user and event.payload["reason"] == "contact's name changed"
    assert client_for(admin_user).get(reverse("admin:tickets_identity_add")).status_code == 403

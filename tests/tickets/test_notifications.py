"""Notification rules, per event: who hears about it, and who does not."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from tests.conftest import client_for
from tests.factories import ContactFactory, make_agent, make_ticket
from tickets import services
from tickets.models import (
    Message,
    Notification,
    NotificationKind,
    NotificationSetting,
    Ticket,
    TicketEvent,
)
from tickets.services.notifications import notification_email_send, notifications_for_event
from tickets.types import IncomingMessage

pytestmark = pytest.mark.django_db
PAT = "pat@customer.test"
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def run(django_capture_on_commit_callbacks: Any) -> Callable[..., Any]:
    """Call a service and run what it scheduled after commit (the notification rules)."""

    def call(fn: Callable[..., Any], **kwargs: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return fn(**kwargs)

    return call


@pytest.fixture
def cleo(support: Any) -> Any:
    return make_agent("cleo", groups=[support])


@pytest.fixture
def ticket(support: Any) -> Ticket:
    return make_ticket(group=support, contact=ContactFactory(email=PAT), subject="Printer")


def inbox(user: Any, kind: str | None = None) -> list[Notification]:
    rows = Notification.objects.filter(recipient=user)
    if kind:
        rows = rows.filter(kind=kind)
    return list(rows)


def customer_writes(run: Any, ticket: Ticket, **extra: Any) -> None:
    run(
        services.message_ingest,
        incoming=IncomingMessage(
            channel="email",
            identity_kind="email",
            identity_value=PAT,
            subject="Re: Printer",
            text="Still broken",
            target_ticket_id=ticket.pk,
            **extra,
        ),
    )


def test_assignment_notifies_the_new_assignee_not_the_actor(
    run: Any, ticket: Ticket, agent: Any, cleo: Any
) -> None:
    run(services.ticket_assign, ticket=ticket, agent=cleo, actor=agent)
    [note] = inbox(cleo, NotificationKind.ASSIGNED)
    assert note.ticket == ticket and note.actor == agent
    assert f"#{ticket.number}" in note.title
    assert inbox(agent, NotificationKind.ASSIGNED) == []

    run(services.ticket_assign, ticket=ticket, agent=agent, actor=agent)  # taking it myself
    assert inbox(agent, NotificationKind.ASSIGNED) == []


def test_a_ticket_in_my_group_notifies_its_members_only(
    run: Any, support: Any, agent: Any, cleo: Any, other_agent: Any
) -> None:
    ticket = run(make_ticket, group=support, subject="New one")
    assert [n.ticket for n in inbox(agent, NotificationKind.GROUP_ASSIGNED)] == [ticket]
    assert len(inbox(cleo, NotificationKind.GROUP_ASSIGNED)) == 1
    assert inbox(other_agent) == []


def test_moving_a_ticket_to_another_group_notifies_that_group(
    run: Any, ticket: Ticket, agent: Any, billing: Any, other_agent: Any
) -> None:
    run(services.ticket_set_group, ticket=ticket, group=billing, actor=agent)
    assert len(inbox(other_agent, NotificationKind.GROUP_ASSIGNED)) == 1
    assert inbox(agent, NotificationKind.GROUP_ASSIGNED) == []


def test_a_customer_reply_notifies_the_assignee_and_followers_who_can_see_it(
    run: Any, ticket: Ticket, agent: Any, cleo: Any, other_agent: Any, supervisor: Any
) -> None:
    services.ticket_assign(ticket=ticket, agent=agent, actor=None)
    services.ticket_follow(ticket=ticket, user=cleo)
    services.ticket_follow(ticket=ticket, user=supervisor)
    services.ticket_follow(ticket=ticket, user=other_agent)  # another team: cannot see it
    customer_writes(run, ticket)

    for user in (agent, cleo, supervisor):
        [note] = inbox(user, NotificationKind.CUSTOMER_REPLY)
        assert note.body == "Still broken"
    assert inbox(other_agent) == []


def test_an_auto_reply_from_the_customer_notifies_nobody(
    run: Any, ticket: Ticket, agent: Any
) -> None:
    services.ticket_assign(ticket=ticket, agent=agent, actor=None)
    customer_writes(run, ticket, is_automatic=True)
    assert inbox(agent, NotificationKind.CUSTOMER_REPLY) == []


def test_a_mention_notifies_only_agents_who_can_see_the_ticket(
    run: Any, ticket: Ticket, agent: Any, cleo: Any, other_agent: Any
) -> None:
    text = f"@{cleo.username} and @{other_agent.username}, see this. Also @{agent.username} and @nobody."
    note = run(services.ticket_note, ticket=ticket, author=agent, text=text)

    assert note.text == text  # an @ of anyone else is left as text
    assert note.metadata == {"mentions": [cleo.pk, agent.pk]}
    [ring] = inbox(cleo, NotificationKind.MENTION)
    assert ring.actor == agent and "mentioned you" in ring.title
    assert inbox(other_agent) == []
    assert inbox(agent, NotificationKind.MENTION) == []  # mentioning myself rings nothing


def test_a_failed_delivery_notifies_the_owner_and_followers(
    run: Any, ticket: Ticket, agent: Any, cleo: Any
) -> None:
    reply = services.ticket_reply(ticket=ticket, author=agent, text="Here you go")
    services.ticket_follow(ticket=ticket, user=cleo)
    run(
        services.delivery_record_event,
        ticket_id=ticket.pk,
        message_id=reply.pk,
        status="sent",
    )
    assert Notification.objects.filter(kind=NotificationKind.DELIVERY_FAILED).count() == 0
    run(
        services.delivery_record_event,
        ticket_id=ticket.pk,
        message_id=reply.pk,
        status="failed",
        detail="550 mailbox unavailable",
    )
    for user in (agent, cleo):
        [note] = inbox(user, NotificationKind.DELIVERY_FAILED)
        assert note.body == "550 mailbox unavailable"


def test_sla_warnings_reach_the_owner_once_per_key(run: Any, ticket: Ticket, agent: Any) -> None:
    services.ticket_assign(ticket=ticket, agent=agent, actor=None)
    for _ in range(2):
        run(
            services.notify_sla_warning,
            ticket=ticket,
            target="first response",
            dedupe_key=f"sla:{ticket.pk}:first",
        )
    [note] = inbox(agent, NotificationKind.SLA_WARNING)
    assert "first response" in note.title


def test_an_unassigned_tickets_sla_warning_goes_to_its_group(
    run: Any, ticket: Ticket, agent: Any, cleo: Any, other_agent: Any
) -> None:
    run(services.notify_sla_warning, ticket=ticket, target="resolution")
    assert len(inbox(agent, "sla_warning")) == 1 and len(inbox(cleo, "sla_warning")) == 1
    assert inbox(other_agent) == []


def test_processing_an_event_twice_notifies_once(ticket: Ticket, agent: Any, cleo: Any) -> None:
    services.ticket_assign(ticket=ticket, agent=cleo, actor=agent)
    event = TicketEvent.objects.get(ticket=ticket, kind=TicketEvent.Kind.ASSIGNEE)
    notifications_for_event(event_id=event.pk)
    notifications_for_event(event_id=event.pk)
    assert len(inbox(cleo, NotificationKind.ASSIGNED)) == 1


def test_settings_turn_a_kind_off_or_to_email_only(
    run: Any, ticket: Ticket, agent: Any, cleo: Any
) -> None:
    services.notification_settings_update(
        user=cleo, choices={NotificationKind.ASSIGNED: (False, False)}
    )
    run(services.ticket_assign, ticket=ticket, agent=cleo, actor=agent)
    assert inbox(cleo, NotificationKind.ASSIGNED) == []

    services.notification_settings_update(
        user=agent, choices={NotificationKind.ASSIGNED: (False, True)}
    )
    run(services.ticket_assign, ticket=ticket, agent=agent, actor=cleo)
    [note] = inbox(agent, NotificationKind.ASSIGNED)
    assert note.read_at is not None  # email only: it stays out of the bell


def test_the_email_is_rendered_sent_once_and_stamped(ticket: Ticket, agent: Any, cleo: Any) -> None:
    services.ticket_assign(ticket=ticket, agent=cleo, actor=agent)
    event = TicketEvent.objects.get(ticket=ticket, kind=TicketEvent.Kind.ASSIGNEE)
    [note] = notifications_for_event(event_id=event.pk)

    assert notification_email_send(notification_id=note.pk) is True
    assert notification_email_send(notification_id=note.pk) is False
    [sent] = mail.outbox
    assert sent.to == [cleo.email]
    assert sent.subject.startswith("[Helpdesk] ") and f"#{ticket.number}" in sent.subject
    raw = sent.message().as_bytes()
    assert b"Auto-Submitted: auto-generated" in raw
    assert f"/desk/tickets/{ticket.number}/".encode() in raw
    assert b"/desk/notifications/settings/" in raw
    note.refresh_from_db()
    assert note.emailed_at is not None


def test_unknown_kinds_are_refused(agent: Any) -> None:
    with pytest.raises(services.ServiceError):
        services.notification_settings_update(user=agent, choices={"weather": (True, True)})


# --- the desk pages -------------------------------------------------------------------------


def test_the_bell_counts_lists_and_opens(
    run: Any, ticket: Ticket, agent: Any, cleo: Any, django_assert_max_num_queries: Any
) -> None:
    for n in range(3):
        services.ticket_note(ticket=ticket, author=cleo, text=f"@{agent.username} look {n}")
    events = TicketEvent.objects.filter(ticket=ticket, kind=TicketEvent.Kind.NOTE)
    for event in events:
        notifications_for_event(event_id=event.pk)
    client = client_for(agent)

    count = client.get(reverse("desk:notification_count"), **HTMX)
    assert 'data-unread="3"' in count.content.decode()
    with django_assert_max_num_queries(8):
        listing = client.get(reverse("desk:notifications"), **HTMX)
    body = listing.content.decode()
    assert body.count('class="bell-item is-unread"') == 3 and "Mark all read" in body

    first = Notification.objects.filter(recipient=agent).first()
    assert first is not None
    opened = client.post(reverse("desk:notification_open", args=[first.pk]))
    assert opened.status_code == 302 and opened["Location"].endswith(f"/{ticket.number}/")
    first.refresh_from_db()
    assert first.read_at is not None

    # someone else's notification is not there for me
    assert (
        client_for(cleo).post(reverse("desk:notification_open", args=[first.pk])).status_code == 404
    )
    client.post(reverse("desk:notifications_read"))
    assert Notification.objects.filter(recipient=agent, read_at__isnull=True).count() == 0


def test_the_settings_page_saves_choices(agent_client: Client, agent: Any) -> None:
    page = agent_client.get(reverse("desk:notification_settings"))
    assert page.status_code == 200 and "A customer replies on my ticket" in page.content.decode()
    response = agent_client.post(
        reverse("desk:notification_settings"),
        {"assigned_in_app": "on", "mention_in_app": "on", "mention_email": "on"},
    )
    assert response.status_code == 302
    saved = {s.kind: (s.in_app, s.email) for s in NotificationSetting.objects.filter(user=agent)}
    assert saved["assigned"] == (True, False)
    assert saved["mention"] == (True, True)
    assert saved["customer_reply"] == (False, False)


def test_following_from_the_ticket_page(agent_client: Client, agent: Any, ticket: Ticket) -> None:
    url = reverse("desk:follow", kwargs={"number": ticket.number})
    page = agent_client.get(reverse("desk:ticket", kwargs={"number": ticket.number}))
    assert ">Follow</button>" in page.content.decode()
    response = agent_client.post(url, {"follow": "1"}, **HTMX)
    assert "Following" in response.content.decode()
    assert ticket.followers.filter(user=agent).exists()
    agent_client.post(url, {"follow": "0"})
    assert not ticket.followers.filter(user=agent).exists()


def test_another_team_cannot_follow_or_list_mentions(other_agent: Any, ticket: Ticket) -> None:
    client = client_for(other_agent)
    assert (
        client.post(reverse("desk:follow", args=[ticket.number]), {"follow": "1"}).status_code
        == 404
    )
    assert client.get(reverse("desk:mentions", args=[ticket.number])).status_code == 404


def test_mention_autocomplete_lists_only_agents_who_see_the_ticket(
    agent_client: Client, ticket: Ticket, cleo: Any, other_agent: Any, supervisor: Any
) -> None:
    url = reverse("desk:mentions", kwargs={"number": ticket.number})
    everyone = {r["username"] for r in agent_client.get(url).json()["results"]}
    assert {"ada", "cleo", "sue"} <= everyone and "bob" not in everyone
    only = agent_client.get(url, {"q": "@cl"}).json()["results"]
    assert [r["username"] for r in only] == ["cleo"]


def test_customers_get_no_bell(customer: Any) -> None:
    assert client_for(customer).get(reverse("desk:notifications")).status_code == 403


def test_a_note_mentioning_someone_through_the_desk_rings_their_bell(
    run: Any, agent_client: Client, ticket: Ticket, cleo: Any
) -> None:
    run(
        agent_client.post,
        path=reverse("desk:note", kwargs={"number": ticket.number}),
        data={"text": "@cleo can you check?"},
    )
    assert len(inbox(cleo, NotificationKind.MENTION)) == 1
    assert Message.objects.get(kind=Message.Kind.NOTE).metadata["mentions"] == [cleo.pk]


def test_the_api_lists_and_marks_my_notifications_only(
    ticket: Ticket, agent: Any, cleo: Any
) -> None:
    services.ticket_assign(ticket=ticket, agent=cleo, actor=agent)
    event = TicketEvent.objects.get(ticket=ticket, kind=TicketEvent.Kind.ASSIGNEE)
    [note] = notifications_for_event(event_id=event.pk)
    mine, theirs = client_for(cleo), client_for(agent)

    listed = mine.get("/api/v1/notifications/", {"unread": "true"}).json()
    assert [(r["id"], r["kind"], r["ticket"], r["read"]) for r in listed["results"]] == [
        (note.pk, "assigned", ticket.number, False)
    ]
    assert theirs.get("/api/v1/notifications/").json()["results"] == []
    assert theirs.post(f"/api/v1/notifications/{note.pk}/read/").status_code == 404
    assert mine.post(f"/api/v1/notifications/{note.pk}/read/").json() == {"marked": 1}
    assert mine.post("/api/v1/notifications/read-all/").json() == {"marked": 0}
    assert mine.get("/api/v1/notifications/", {"unread": "true"}).json()["results"] == []

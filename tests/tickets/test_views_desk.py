"""The agent desk pages: queue, ticket, field changes, replies, downloads and live updates."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.contrib.auth.models import Group as AuthGroup
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings
from django.urls import reverse

from tests.conftest import client_for
from tests.factories import ContactFactory, make_ticket
from tickets import selectors, services
from tickets.access import my_group_ids
from tickets.models import Macro, Message, Ticket, TicketEvent
from tickets.roles import Role, is_agent
from tickets.types import IncomingAttachment, IncomingMessage

# The real counts for these pages; they must not grow with the number of rows.
QUEUE_QUERIES = 13  # constant: session, user, roles, teams, counts, page, count, rows, tags,
# saved views, the teams a view can be shared with, the bulk bar's macros…
TICKET_QUERIES = 18  # among them: the SLA card (its stored targets), whether I follow it

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def media_root(tmp_path: Path) -> Iterator[Path]:
    with override_settings(MEDIA_ROOT=tmp_path / "media"):
        yield tmp_path / "media"


def ticket_url(ticket: Ticket) -> str:
    return reverse("desk:ticket", kwargs={"number": ticket.number})


# --- queue -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_lists_only_the_agents_groups_tickets(
    agent_client: Client, support: Any, billing: Any
) -> None:
    make_ticket(group=support, subject="Support printer")
    make_ticket(group=billing, subject="Billing invoice")

    response = agent_client.get(reverse("desk:queue"))

    assert response.status_code == 200
    body = response.content.decode()
    assert "Support printer" in body
    assert "Billing invoice" not in body
    assert 'id="queue-results"' in body and "<!doctype html>" in body


@pytest.mark.django_db
def test_it_answers_htmx_with_the_table_partial_only(agent_client: Client, support: Any) -> None:
    make_ticket(group=support, subject="Partial please")

    response = agent_client.get(reverse("desk:queue"), **HTMX)

    body = response.content.decode()
    assert "Partial please" in body
    assert "<!doctype html>" not in body
    assert (
        'id="queue-views" class="desk-sidebar" aria-label="Ticket views" hx-swap-oob="true"' in body
    )
    assert "HX-Request" in response["Vary"]


@pytest.mark.django_db
def test_it_counts_every_view_in_one_query(
    agent: Any, support: Any, billing: Any, django_assert_num_queries: Any
) -> None:
    mine = make_ticket(group=support)
    services.ticket_assign(ticket=mine, agent=agent, actor=agent)
    make_ticket(group=support)  # unassigned, my group
    solved = make_ticket(group=support)
    services.ticket_set_status(ticket=solved, status=Ticket.Status.SOLVED, actor=agent)
    make_ticket(group=billing)  # not visible
    is_agent(agent)  # roles and teams are cached on the user: the count is what we measure
    my_group_ids(agent)

    with django_assert_num_queries(1):
        counts = selectors.queue_counts(agent)

    assert {key: count for key, _label, count in counts} == {
        "mine": "1",
        "unassigned": "1",
        "groups": "2",
        "unsolved": "2",
        "all": "3",
    }


@pytest.mark.django_db
def test_it_caps_counts_so_big_views_cost_what_small_ones_do(agent: Any, support: Any) -> None:
    for _ in range(4):
        make_ticket(group=support)
    counts = dict((key, count) for key, _label, count in selectors.queue_counts(agent))
    assert counts["groups"] == "4"
    from tickets.access import agent_tickets
    from tickets.pagination import capped_counts

    assert capped_counts({"all": agent_tickets(agent)}, cap=3) == {"all": "3+"}


@pytest.mark.django_db
def test_it_filters_and_sorts_the_queue(agent_client: Client, agent: Any, support: Any) -> None:
    low = make_ticket(group=support, subject="Low one", priority=Ticket.Priority.LOW)
    urgent = make_ticket(group=support, subject="Urgent one", priority=Ticket.Priority.URGENT)
    services.ticket_set_tags(ticket=low, names=["vip"], actor=agent)  # now most recently updated

    by_priority = agent_client.get(reverse("desk:queue"), {"sort": "-priority"}).content.decode()
    assert by_priority.index("Urgent one") < by_priority.index("Low one")
    by_update = agent_client.get(reverse("desk:queue")).content.decode()
    assert by_update.index("Low one") < by_update.index("Urgent one")

    tagged = agent_client.get(reverse("desk:queue"), {"tag": "vip"}).content.decode()
    assert "Low one" in tagged and "Urgent one" not in tagged
    found = agent_client.get(reverse("desk:queue"), {"q": f"#{urgent.number}"}).content.decode()
    assert "Urgent one" in found and "Low one" not in found
    searched = agent_client.get(reverse("desk:queue"), {"q": "urgent"}).content.decode()
    assert "Urgent one" in searched and "Low one" not in searched
    mine = agent_client.get(reverse("desk:queue"), {"view": "mine"}).content.decode()
    assert "Urgent one" not in mine
    bad = agent_client.get(reverse("desk:queue"), {"priority": "99", "status": "nope"})
    assert bad.status_code == 200 and "Urgent one" in bad.content.decode()


def _tagged_tickets(count: int, group: Any, agent: Any) -> None:
    for i in range(count):
        ticket = make_ticket(group=group, subject=f"Bulk {i}", contact=ContactFactory())
        services.ticket_set_tags(ticket=ticket, names=[f"t{i}", "bulk"], actor=agent)
        if i % 2:
            services.ticket_assign(ticket=ticket, agent=agent, actor=agent)


@pytest.mark.django_db
def test_it_renders_the_queue_in_a_flat_number_of_queries(
    agent_client: Client, agent: Any, support: Any, django_assert_max_num_queries: Any
) -> None:
    _tagged_tickets(5, support, agent)
    with django_assert_max_num_queries(QUEUE_QUERIES):
        assert agent_client.get(reverse("desk:queue")).status_code == 200

    _tagged_tickets(30, support, agent)
    with django_assert_max_num_queries(QUEUE_QUERIES):
        response = agent_client.get(reverse("desk:queue"))
    assert response.content.decode().count('class="ticket-row"') == 35


# --- access ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_hides_a_ticket_from_agents_of_other_groups_and_customers(
    support: Any, other_agent: Any, customer: Any, outsider: Any
) -> None:
    ticket = make_ticket(group=support)
    url = ticket_url(ticket)

    assert client_for(other_agent).get(url).status_code == 404
    assert client_for(customer).get(url).status_code == 403
    assert client_for(outsider).get(url).status_code == 403
    anonymous = Client().get(url)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("account_login"))
    assert (
        client_for(other_agent)
        .post(reverse("desk:set_status", kwargs={"number": ticket.number}), {"status": "solved"})
        .status_code
        == 404
    )
    assert Ticket.objects.get(pk=ticket.pk).status == Ticket.Status.NEW


@pytest.mark.django_db
def test_it_lets_supervisors_see_every_group(supervisor: Any, billing: Any) -> None:
    ticket = make_ticket(group=billing, subject="Seen by supervisors")
    response = client_for(supervisor).get(ticket_url(ticket))
    assert response.status_code == 200
    assert "Seen by supervisors" in response.content.decode()


# --- ticket page -------------------------------------------------------------------------------


def _busy_ticket(group: Any, agent: Any, *, rounds: int) -> Ticket:
    email = f"bea{rounds}@busy.test"
    contact = ContactFactory(name="Bea Busy", email=email)
    ticket = make_ticket(
        group=group,
        contact=contact,
        subject="Busy ticket",
        attachments=[IncomingAttachment("log.txt", "text/plain", b"log")],
    )
    for i in range(rounds):
        services.message_ingest(
            incoming=IncomingMessage(
                channel="chat",
                identity_kind="email",
                identity_value=email,
                target_ticket_id=ticket.pk,
                text=f"customer {i}",
                attachments=(IncomingAttachment(f"shot{i}.png", "image/png", b"png"),),
            )
        )
        services.ticket_reply(ticket=ticket, author=agent, text=f"reply {i}")
        services.ticket_note(ticket=ticket, author=agent, text=f"note {i}")
        services.ticket_set_priority(ticket=ticket, priority=1 + i % 4, actor=agent)
    make_ticket(group=group, contact=contact, subject="Older one")
    return ticket


@pytest.mark.django_db
def test_it_renders_a_ticket_in_a_flat_number_of_queries(
    agent_client: Client, agent: Any, support: Any, django_assert_max_num_queries: Any
) -> None:
    Macro.objects.create(name="Thanks", body="Thanks for writing!", set_status="solved")
    small = _busy_ticket(support, agent, rounds=1)
    with django_assert_max_num_queries(TICKET_QUERIES):
        assert agent_client.get(ticket_url(small)).status_code == 200

    big = _busy_ticket(support, agent, rounds=12)
    with django_assert_max_num_queries(TICKET_QUERIES):
        response = agent_client.get(ticket_url(big))
    assert response.content.decode().count('class="msg msg-') == 1 + 12 * 3


@pytest.mark.django_db
def test_it_shows_the_whole_thread_with_notes_flags_and_folded_quotes(
    agent_client: Client, agent: Any, support: Any
) -> None:
    contact = ContactFactory(name="Quinn", email="quinn@q.test")
    ticket = make_ticket(
        group=support,
        contact=contact,
        subject="Thread",
        text="first",
        html="<p>First <b>bold</b></p>",
    )
    services.ticket_note(ticket=ticket, author=agent, text="Only for us")
    services.message_ingest(
        incoming=IncomingMessage(
            channel="email",
            identity_kind="email",
            identity_value="stranger@x.test",
            thread_refs=(),
            target_ticket_id=ticket.pk,
            text="New words\n> old quoted words",
            metadata={"quoted_text_start": 10},
        )
    )
    Message.objects.filter(ticket=ticket, text__startswith="New").update(flag="Unknown sender")

    body = agent_client.get(ticket_url(ticket)).content.decode()

    assert "<b>bold</b>" in body
    assert "msg msg-note" in body and "Only for us" in body
    assert "Unknown sender" in body and "msg-flagged" in body
    assert '<details class="quoted">' in body
    assert body.index("New words") < body.index("Show quoted text") < body.index("old quoted words")


@pytest.mark.django_db
def test_it_escapes_plain_text_messages(agent_client: Client, support: Any) -> None:
    ticket = make_ticket(group=support, text="<script>alert(1)</script>")
    body = agent_client.get(ticket_url(ticket)).content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


FIELD_CHANGES = [
    ("status", {"status": "on_hold"}, TicketEvent.Kind.STATUS, lambda t: t.status == "on_hold"),
    ("priority", {"priority": "4"}, TicketEvent.Kind.PRIORITY, lambda t: t.priority == 4),
    (
        "tags",
        {"tags": "vip, Billing Issue"},
        TicketEvent.Kind.TAGS,
        lambda t: sorted(t.tags.values_list("name", flat=True)) == ["billing-issue", "vip"],
    ),
    (
        "subject",
        {"subject": "Printer fixed?"},
        TicketEvent.Kind.SUBJECT,
        lambda t: t.subject == "Printer fixed?",
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("field", "data", "kind", "check"), FIELD_CHANGES)
def test_it_changes_a_field_through_its_service(
    agent_client: Client, support: Any, field: str, data: dict[str, str], kind: str, check: Any
) -> None:
    ticket = make_ticket(group=support)
    url = reverse(f"desk:set_{field}", kwargs={"number": ticket.number})

    response = agent_client.post(url, data, **HTMX)

    assert response.status_code == 200
    assert 'id="ticket-fields"' in response.content.decode()
    ticket.refresh_from_db()
    assert check(ticket)
    assert TicketEvent.objects.filter(ticket=ticket, kind=kind).exists()


@pytest.mark.django_db
def test_it_assigns_and_moves_groups(
    agent_client: Client, agent: Any, support: Any, billing: Any
) -> None:
    ticket = make_ticket(group=support)
    agent_client.post(
        reverse("desk:set_assignee", kwargs={"number": ticket.number}), {"assignee": agent.pk}
    )
    ticket.refresh_from_db()
    assert ticket.assignee_id == agent.pk
    assert TicketEvent.objects.filter(ticket=ticket, kind=TicketEvent.Kind.ASSIGNEE).exists()

    response = agent_client.post(
        reverse("desk:set_group", kwargs={"number": ticket.number}), {"group": billing.pk}
    )
    assert response.status_code == 302  # without htmx: back to the ticket
    ticket.refresh_from_db()
    assert ticket.group_id == billing.pk
    assert TicketEvent.objects.filter(ticket=ticket, kind=TicketEvent.Kind.GROUP).exists()


@pytest.mark.django_db
def test_it_shows_a_service_error_instead_of_failing(agent_client: Client, support: Any) -> None:
    ticket = make_ticket(group=support)
    services.ticket_set_status(ticket=ticket, status=Ticket.Status.CLOSED, actor=None)

    response = agent_client.post(
        reverse("desk:set_status", kwargs={"number": ticket.number}), {"status": "open"}, **HTMX
    )

    assert response.status_code == 200
    assert "A closed ticket cannot be changed" in response.content.decode()
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.CLOSED


@pytest.mark.django_db
def test_it_posts_a_public_reply_with_attachment(
    agent_client: Client, agent: Any, support: Any
) -> None:
    ticket = make_ticket(group=support)
    upload = SimpleUploadedFile("invoice.pdf", b"%PDF-1.4", content_type="application/pdf")

    response = agent_client.post(
        reverse("desk:reply", kwargs={"number": ticket.number}),
        {"text": "We are on it.", "status": "open", "attachments": [upload]},
        **HTMX,
    )

    assert response.status_code == 200
    assert response["HX-Trigger"] == "reply-sent"
    reply = Message.objects.get(ticket=ticket, kind=Message.Kind.REPLY)
    assert reply.text == "We are on it." and reply.author_user == agent
    assert [a.filename for a in reply.attachments.all()] == ["invoice.pdf"]
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.OPEN
    assert "We are on it." in response.content.decode()


@pytest.mark.django_db
def test_it_refuses_attachments_over_the_limit(agent_client: Client, support: Any) -> None:
    ticket = make_ticket(group=support)
    upload = SimpleUploadedFile("big.bin", b"x" * 11)
    with override_settings(HELPDESK_MAX_ATTACHMENT_BYTES=10):
        response = agent_client.post(
            reverse("desk:reply", kwargs={"number": ticket.number}),
            {"text": "Here", "attachments": [upload]},
            **HTMX,
        )
    assert "big.bin: larger than" in response.content.decode()
    assert "HX-Trigger" not in response
    assert not Message.objects.filter(ticket=ticket, kind=Message.Kind.REPLY).exists()


@pytest.mark.django_db
def test_it_adds_an_internal_note(agent_client: Client, agent: Any, support: Any) -> None:
    ticket = make_ticket(group=support)
    response = agent_client.post(
        reverse("desk:note", kwargs={"number": ticket.number}), {"text": "Call them tomorrow"}
    )
    assert response.status_code == 302
    note = Message.objects.get(ticket=ticket, kind=Message.Kind.NOTE)
    assert note.text == "Call them tomorrow"
    assert TicketEvent.objects.filter(ticket=ticket, kind=TicketEvent.Kind.NOTE).exists()


@pytest.mark.django_db
def test_it_applies_a_macros_field_changes(agent_client: Client, support: Any) -> None:
    ticket = make_ticket(group=support)
    macro = Macro.objects.create(
        name="Escalate", body="Escalating.", set_priority=4, add_tags="escalated"
    )
    agent_client.post(
        reverse("desk:macro", kwargs={"number": ticket.number}), {"macro": macro.pk}, **HTMX
    )
    ticket.refresh_from_db()
    assert ticket.priority == 4
    assert list(ticket.tags.values_list("name", flat=True)) == ["escalated"]


@pytest.mark.django_db
def test_it_merges_into_a_visible_ticket_only(
    agent_client: Client, support: Any, billing: Any
) -> None:
    source = make_ticket(group=support)
    target = make_ticket(group=support)
    hidden = make_ticket(group=billing)

    refused = agent_client.post(
        reverse("desk:merge", kwargs={"number": source.number}), {"target": str(hidden.number)}
    )
    assert refused["Location"] == ticket_url(source)
    assert Ticket.objects.get(pk=source.pk).merged_into_id is None

    merged = agent_client.post(
        reverse("desk:merge", kwargs={"number": source.number}), {"target": f"#{target.number}"}
    )
    assert merged["Location"] == ticket_url(target)
    assert Ticket.objects.get(pk=source.pk).merged_into_id == target.pk


@pytest.mark.django_db
def test_it_downloads_attachments_as_files_through_the_gate(
    agent_client: Client, other_agent: Any, support: Any
) -> None:
    ticket = make_ticket(
        group=support,
        attachments=[IncomingAttachment("page.html", "text/html", b"<script>alert(1)</script>")],
    )
    attachment = ticket.messages.get().attachments.get()
    url = reverse("desk:attachment", kwargs={"attachment_id": attachment.pk})

    response = agent_client.get(url)

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert 'filename="page.html"' in response["Content-Disposition"]
    assert response["Content-Type"] == "text/html"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == b"<script>alert(1)</script>"
    assert client_for(other_agent).get(url).status_code == 404


# --- live updates ------------------------------------------------------------------------------


def _ensure_roles() -> None:
    # A flush by an earlier transactional test removes the roles the migration created.
    for role in Role:
        AuthGroup.objects.get_or_create(name=role.value)


@pytest.fixture
def roles_present(transactional_db: Any) -> None:
    _ensure_roles()


def _session_cookie(user: Any) -> bytes:
    client = client_for(user)
    return f"{django_settings.SESSION_COOKIE_NAME}={client.cookies[django_settings.SESSION_COOKIE_NAME].value}".encode()


@pytest.mark.django_db(transaction=True)
def test_it_pushes_ticket_changes_to_agents_of_the_group_only(
    roles_present: None,
    agent: Any,
    other_agent: Any,
    support: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from helpdesk.asgi import application

    contact = ContactFactory()

    def create() -> Ticket:
        with django_capture_on_commit_callbacks(execute=True):
            return make_ticket(group=support, contact=contact, subject="Live one")

    async def scenario() -> tuple[dict[str, Any], bool]:
        headers = [(b"origin", b"http://localhost")]
        ours = WebsocketCommunicator(
            application, "/ws/desk/", headers=[*headers, (b"cookie", _cookie_ours)]
        )
        theirs = WebsocketCommunicator(
            application, "/ws/desk/", headers=[*headers, (b"cookie", _cookie_theirs)]
        )
        try:
            assert (await ours.connect())[0]
            assert (await theirs.connect())[0]
            ticket = await sync_to_async(create)()
            event = await ours.receive_json_from(timeout=5)
            while event["type"] == "notification":  # the bell: a new ticket in her group
                event = await ours.receive_json_from(timeout=5)
            assert event["number"] == ticket.number
            quiet = await theirs.receive_nothing(timeout=0.5)
            return event, quiet
        finally:
            await ours.disconnect()
            await theirs.disconnect()

    _cookie_ours = _session_cookie(agent)
    _cookie_theirs = _session_cookie(other_agent)
    event, quiet = asyncio.run(scenario())

    assert event["type"] == "ticket.changed"
    assert event["kind"] == "created"
    assert quiet is True


@pytest.mark.django_db(transaction=True)
def test_it_refuses_the_desk_socket_to_customers(roles_present: None, customer: Any) -> None:
    from helpdesk.asgi import application

    cookie = _session_cookie(customer)

    async def scenario() -> bool:
        comm = WebsocketCommunicator(
            application,
            "/ws/desk/",
            headers=[(b"origin", b"http://localhost"), (b"cookie", cookie)],
        )
        connected, _ = await comm.connect()
        await comm.disconnect()
        return connected

    assert asyncio.run(scenario()) is False


@pytest.mark.django_db
def test_a_supervisor_in_no_team_gets_the_queue_with_zero_team_tickets(
    supervisor: Any, support: Any
) -> None:
    make_ticket(group=support)
    response = client_for(supervisor).get(reverse("desk:queue"))
    assert response.status_code == 200
    counts = {key: count for key, _label, count in selectors.queue_counts(supervisor)}
    assert counts["groups"] == "0" and counts["unsolved"] == "1"

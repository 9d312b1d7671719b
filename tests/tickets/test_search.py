"""Full-text ticket search: every field is found, scoping follows the queue's gate, operators
narrow, ranking puts the best match first, and the documents follow changes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.postgres.search import SearchQuery as TsQuery
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from tests.conftest import client_for
from tests.factories import ContactFactory, OrganisationFactory, make_agent, make_ticket
from tickets import services
from tickets.access import agent_tickets
from tickets.models import Channel, Identity, SearchDocument, Ticket
from tickets.search import index
from tickets.search.engine import SearchError, apply_search, rank_order, search_snippets
from tickets.search.parser import parse_query
from tickets.tasks import refresh_search_documents
from tickets.types import IncomingAttachment

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(tmp_path: Path) -> Iterator[Path]:
    with override_settings(MEDIA_ROOT=tmp_path / "media"):
        yield tmp_path / "media"


def search(user: Any, text: str, *, include_notes: bool = True) -> list[Ticket]:
    query = parse_query(text)
    qs = apply_search(agent_tickets(user), user, query, include_notes=include_notes)
    return list(qs.order_by(*rank_order(query)))


def numbers(user: Any, text: str, **kwargs: Any) -> list[int]:
    return [t.number for t in search(user, text, **kwargs)]


def queue(client: Client, q: str) -> str:
    return client.get(reverse("desk:queue"), {"q": q}).content.decode()


# --- every field ---------------------------------------------------------------------------------


def test_it_finds_each_field(agent: Any, support: Any) -> None:
    org = OrganisationFactory(name="Globex Industries")
    pat = ContactFactory(name="Patricia Quigley", email="pat.q@globex.test", organisation=org)
    Identity.objects.create(contact=pat, kind=Identity.Kind.PHONE, value="+12025550143")
    ticket = make_ticket(
        contact=pat,
        group=support,
        subject="Printer jammed",
        text="The fuser makes a grinding noise.",
        attachments=[IncomingAttachment("scan-of-receipt.pdf", "application/pdf", b"%PDF-1")],
    )
    services.ticket_reply(ticket=ticket, author=agent, text="Try the descaling cycle.")
    services.ticket_note(ticket=ticket, author=agent, text="Customer sounds furious.")
    services.ticket_set_tags(ticket=ticket, names=["hardware"], actor=agent)
    make_ticket(group=support, subject="Unrelated", text="Nothing to see.")

    for text in [
        "printer",  # subject
        "grinding",  # customer message body
        "descaling",  # agent reply
        "furious",  # internal note (agents)
        "receipt",  # attachment name
        "Quigley",  # contact name
        "pat.q@globex.test",  # email
        "pat.q@glob",  # part of an email (trigram)
        "quigl",  # part of a name (trigram)
        "(202) 555-0143",  # phone, typed with punctuation
        "globex",  # organisation
        "hardware",  # tag
        f"#{ticket.number}",  # number
        str(ticket.number),
    ]:
        assert numbers(agent, text) == [ticket.number], text


def test_it_stems_and_ands_words(agent: Any, support: Any) -> None:
    both = make_ticket(group=support, subject="Refunds", text="The invoice was charged twice.")
    make_ticket(group=support, subject="Refund please", text="Wrong size.")
    assert numbers(agent, "refund charged") == [both.number]
    assert numbers(agent, '"charged twice"') == [both.number]
    assert numbers(agent, '"twice charged"') == []
    assert both.number not in numbers(agent, "refund -charged")


# --- scope ---------------------------------------------------------------------------------------


def test_no_hit_leaks_another_groups_ticket(
    agent: Any, other_agent: Any, supervisor: Any, support: Any, billing: Any
) -> None:
    mine = make_ticket(group=support, subject="Zebra crossing", text="zebra")
    theirs = make_ticket(group=billing, subject="Zebra invoice", text="zebra")

    assert numbers(agent, "zebra") == [mine.number]
    assert numbers(other_agent, "zebra") == [theirs.number]
    assert set(numbers(supervisor, "zebra")) == {mine.number, theirs.number}
    # not by number, email or operators either
    assert numbers(agent, f"#{theirs.number}") == []
    assert numbers(agent, f"from:{theirs.contact.identities.get().value}") == []
    assert numbers(agent, "group:Billing") == []

    body = queue(client_for(agent), "zebra")
    assert "Zebra crossing" in body and "Zebra invoice" not in body
    api = client_for(agent).get("/api/v1/tickets/", {"q": "zebra"}).json()
    assert [r["number"] for r in api["results"]] == [mine.number]
    found = client_for(agent).get("/api/v1/search/", {"q": "zebra"}).json()
    assert [r["number"] for r in found["results"]] == [mine.number]


def test_an_assigned_ticket_of_another_group_is_found_by_its_assignee(
    agent: Any, billing: Any, supervisor: Any
) -> None:
    ticket = make_ticket(group=billing, subject="Quokka sighting")
    # the gate lets an agent see what is assigned to them, whichever team it sits in
    Ticket.objects.filter(pk=ticket.pk).update(assignee=agent)
    assert numbers(agent, "quokka") == [ticket.number]


def test_merged_tickets_are_not_found(agent: Any, support: Any) -> None:
    source = make_ticket(group=support, subject="Walrus one")
    target = make_ticket(group=support, subject="Walrus two")
    services.ticket_merge(source=source, target=target, actor=agent)
    assert numbers(agent, "walrus") == [target.number]


def test_notes_are_left_out_of_a_customer_facing_search(agent: Any, support: Any) -> None:
    ticket = make_ticket(group=support, subject="Printer", text="It prints blank pages.")
    services.ticket_note(ticket=ticket, author=agent, text="Secret escalation codeword pelican.")

    assert numbers(agent, "pelican") == [ticket.number]
    assert numbers(agent, "pelican", include_notes=False) == []
    snippets = search_snippets([ticket.pk], parse_query("pelican"), include_notes=False)
    assert "pelican" not in str(snippets[ticket.pk].body)


def test_customers_and_strangers_cannot_search(
    client: Client, customer: Any, outsider: Any, support: Any
) -> None:
    make_ticket(contact=customer.contact, group=support, subject="Carol's printer")
    assert client_for(customer).get(reverse("desk:queue"), {"q": "printer"}).status_code == 403
    assert client_for(outsider).get("/api/v1/search/", {"q": "printer"}).status_code == 403
    assert client.get("/api/v1/search/", {"q": "printer"}).status_code in (401, 403)


# --- operators -----------------------------------------------------------------------------------


def test_operators_narrow_the_results(
    agent: Any, supervisor: Any, support: Any, billing: Any
) -> None:
    alice = ContactFactory(name="Alice Example", email="alice@example.com")
    now = timezone.now()
    old = make_ticket(
        contact=alice, group=support, subject="Old refund", created_at=now - timedelta(days=40)
    )
    Ticket.objects.filter(pk=old.pk).update(updated_at=now - timedelta(days=40))
    tagged = make_ticket(contact=alice, group=support, subject="Tagged refund")
    services.ticket_set_tags(ticket=tagged, names=["refund"], actor=agent)
    services.ticket_assign(ticket=tagged, agent=agent, actor=agent)  # now open
    urgent = make_ticket(
        group=billing,
        subject="Urgent refund",
        priority=Ticket.Priority.URGENT,
        channel=Channel.CHAT,
    )
    index.documents_refresh(ticket_ids=[old.pk])
    day = (now - timedelta(days=2)).date().isoformat()

    def found(text: str) -> set[int]:
        return set(numbers(supervisor, text))

    assert found("refund status:open") == {tagged.number}
    assert found("status:new refund") == {old.number, urgent.number}
    assert found("status:unsolved") == {old.number, tagged.number, urgent.number}
    assert found("tag:refund") == {tagged.number}
    assert found("refund -tag:refund") == {old.number, urgent.number}
    assert found("from:alice@example.com") == {old.number, tagged.number}
    assert found("from:ALICE@example.com refund") == {old.number, tagged.number}
    assert found("from:alice") == {old.number, tagged.number}
    assert set(numbers(agent, "assignee:me")) == {tagged.number}
    assert found("assignee:none refund") == {old.number, urgent.number}
    assert found(f"assignee:{agent.email}") == {tagged.number}
    assert found("group:billing") == {urgent.number}
    assert found("-group:Billing refund") == {old.number, tagged.number}
    assert found("priority:urgent") == {urgent.number}
    assert found("channel:chat") == {urgent.number}
    assert found(f"created>{day}") == {tagged.number, urgent.number}
    assert found(f"created<{day}") == {old.number}
    assert found(f"updated<{day} refund") == {old.number}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("colour:red", "Unknown operator “colour:”"),
        ("group:Nowhere", "No group is called “Nowhere”"),
        ("assignee:ghost@desk.test", "No agent “ghost@desk.test”"),
        ("tag:nonexistent", "No tag is called “nonexistent”"),
    ],
)
def test_a_bad_query_is_explained_not_a_500(
    agent: Any, agent_client: Client, support: Any, text: str, message: str
) -> None:
    make_ticket(group=support, subject="Printer")
    with pytest.raises(SearchError, match=message):
        search(agent, text)

    response = agent_client.get(reverse("desk:queue"), {"q": text})
    assert response.status_code == 200
    body = response.content.decode()
    assert message in body and 'role="alert"' in body
    assert "Printer" not in body.split('role="alert"')[1]

    api = agent_client.get("/api/v1/tickets/", {"q": text})
    assert api.status_code == 400
    assert message in str(api.json())
    assert agent_client.get("/api/v1/search/", {"q": text}).status_code == 400


# --- ranking and snippets ------------------------------------------------------------------------


def test_a_subject_match_ranks_above_a_body_match(agent: Any, support: Any) -> None:
    body_only = make_ticket(group=support, subject="Question", text="About the kettle, again.")
    in_subject = make_ticket(group=support, subject="Kettle broken", text="It stopped.")
    newest = make_ticket(group=support, subject="Other", text="A kettle was mentioned once.")
    ranked = numbers(agent, "kettle")
    assert ranked[0] == in_subject.number
    assert set(ranked) == {body_only.number, in_subject.number, newest.number}
    # the desk's form sends an empty sort: best match first there too
    desk = client_for(agent).get(reverse("desk:queue"), {"q": "kettle", "sort": ""})
    rows = desk.content.decode()
    assert rows.index("Kettle broken") < rows.index("Question") and "Other" in rows
    by_date = client_for(agent).get(reverse("desk:queue"), {"q": "kettle", "sort": "-updated_at"})
    dated = by_date.content.decode()
    assert dated.index("Other") < dated.index("Kettle broken") < dated.index("Question")
    # the exact number beats text that merely contains it
    make_ticket(group=support, subject="Mentions", text=f"see ticket {body_only.number}")
    assert numbers(agent, f"#{body_only.number}")[0] == body_only.number


def test_snippets_are_escaped_and_highlighted(agent_client: Client, support: Any) -> None:
    make_ticket(
        group=support,
        subject="Odd mail",
        text="Hello <script>alert('x')</script> our armadillo & a <b>friend</b> escaped.",
    )
    body = queue(agent_client, "armadillo")
    assert "<mark>armadillo</mark>" in body
    assert "<script>alert" not in body
    assert "alert(&#x27;x&#x27;)" in body and "armadillo</mark> &amp; a" in body

    api = agent_client.get("/api/v1/search/", {"q": "armadillo"}).json()
    (row,) = api["results"]
    assert "<mark>armadillo</mark>" in row["snippet"]
    assert "<script>" not in row["snippet"]


def test_the_search_page_costs_the_same_queries_for_more_rows(
    agent_client: Client, support: Any, django_assert_max_num_queries: Any
) -> None:
    for i in range(3):
        make_ticket(group=support, subject=f"Llama {i}", text="llama wool")
    agent_client.get(reverse("desk:queue"), {"q": "llama"})  # builds the documents
    with django_assert_max_num_queries(SEARCH_QUERIES) as few:
        agent_client.get(reverse("desk:queue"), {"q": "llama status:new"})
        first = len(few.captured_queries)  # read now: the next request clears the log
    for i in range(12):
        ticket = make_ticket(group=support, subject=f"Llama more {i}", text="llama wool")
        services.ticket_set_tags(ticket=ticket, names=["wool", f"t{i}"], actor=None)
    agent_client.get(reverse("desk:queue"), {"q": "llama"})
    with django_assert_max_num_queries(first):
        body = queue(agent_client, "llama status:new")
    assert body.count('class="ticket-row"') == 15
    with django_assert_max_num_queries(first + 2):
        api = agent_client.get("/api/v1/search/", {"q": "llama"})
    assert api.json()["count"] == 15


SEARCH_QUERIES = 23  # the queue's 13, the repair check, the probe, candidates, snippets…


# --- keeping the documents current ---------------------------------------------------------------


def test_the_refresh_task_builds_and_rebuilds_a_document(agent: Any, support: Any) -> None:
    ticket = make_ticket(group=support, subject="Heron", text="grey heron")
    assert not SearchDocument.objects.filter(ticket=ticket).exists()

    assert refresh_search_documents.apply(args=[[ticket.pk]]).get() == 1
    assert SearchDocument.objects.filter(
        ticket=ticket, document=TsQuery("heron", config="english")
    ).exists()

    services.ticket_set_subject(ticket=ticket, subject="Egret", actor=agent)
    refresh_search_documents.apply(args=[[ticket.pk]]).get()
    refresh_search_documents.apply(args=[[ticket.pk]]).get()  # idempotent
    doc = SearchDocument.objects.get(ticket=ticket)
    assert SearchDocument.objects.filter(
        pk=doc.pk, document=TsQuery("egret", config="english")
    ).exists()
    assert SearchDocument.objects.count() == 1
    assert refresh_search_documents.apply(args=[[999_999]]).get() == 0  # gone: nothing


def test_a_contact_rename_reaches_its_tickets(agent: Any, support: Any) -> None:
    contact = ContactFactory(name="Old Name")
    ticket = make_ticket(contact=contact, group=support, subject="Something")
    index.documents_refresh(ticket_ids=[ticket.pk])
    services.contact_update(contact=contact, name="Ophelia Brandt", organisation=None, notes="")
    index.documents_refresh_for_contacts(contact_ids=[contact.pk])
    assert numbers(agent, "brandt") == [ticket.number]


def test_a_search_repairs_documents_the_task_has_not_reached(agent: Any, support: Any) -> None:
    ticket = make_ticket(group=support, subject="Pangolin")
    assert not SearchDocument.objects.exists()
    assert numbers(agent, "pangolin") == [ticket.number]
    assert SearchDocument.objects.filter(ticket=ticket).exists()


def test_changes_coalesce_in_a_dirty_set_that_one_drain_empties(agent: Any, support: Any) -> None:
    client = index._redis()
    keys = [index._key(k) for k in (index.TICKETS_SET, index.CONTACTS_SET, index.DRAIN_FLAG)]
    client.delete(*keys)
    first = make_ticket(group=support, subject="Ibex")
    second = make_ticket(group=support, subject="Oryx")
    try:
        for _ in range(3):
            index.schedule_ticket_refresh([first.pk])
        index.schedule_ticket_refresh([second.pk, first.pk])
        index.schedule_contact_refresh(first.contact_id)
        assert client.smembers(keys[0]) == {str(first.pk).encode(), str(second.pk).encode()}
        assert client.exists(keys[2])  # one drain queued for all of it

        # the drain (what the task runs) writes each document once and empties the sets
        assert index.drain_dirty() == 3  # two tickets, and the contact's one ticket again
        assert SearchDocument.objects.count() == 2
        assert not client.exists(*keys)
        assert index.drain_dirty() == 0  # nothing left: nothing done
    finally:
        client.delete(*keys)


@pytest.mark.django_db(transaction=True)
def test_rebuild_command_fills_every_document(support: Any) -> None:
    from django.core.management import call_command

    tickets = [make_ticket(group=support, subject=f"Bulk {i}") for i in range(3)]
    call_command("rebuild_search_index")
    assert SearchDocument.objects.count() == 3
    SearchDocument.objects.filter(pk=tickets[0].pk).delete()
    call_command("rebuild_search_index", "--missing")
    assert SearchDocument.objects.count() == 3
    # the indexes dropped for the first build are back
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'tickets_searchdocument' "
            "AND indexname = ANY(%s)",
            [list(index.GIN_INDEXES)],
        )
        assert cursor.fetchone()[0] == 3


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_refreshes_the_document_after_a_change(
    live_worker: Any, support: Any
) -> None:
    agent = make_agent("wanda", groups=[support])
    ticket = make_ticket(group=support, subject="Capybara", text="first words")
    services.ticket_note(ticket=ticket, author=agent, text="marmoset in the notes")

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if SearchDocument.objects.filter(
            ticket=ticket, notes=TsQuery("marmoset", config="english")
        ).exists():
            break
        time.sleep(0.2)
    assert SearchDocument.objects.filter(
        ticket=ticket, notes=TsQuery("marmoset", config="english")
    ).exists()
    assert SearchDocument.objects.filter(
        ticket=ticket, document=TsQuery("capybara", config="english")
    ).exists()

"""The agent REST API at /api/v1/: each endpoint as an agent, and from the outsider's side."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from channels_in.models import ChannelAccount, ChannelKind, OutboundDelivery
from tests.factories import ContactFactory, OrganisationFactory, make_ticket
from tickets import services
from tickets.api.views import token_throttle_key
from tickets.models import (
    Channel,
    Contact,
    Group,
    Identity,
    Macro,
    Message,
    Tag,
    Ticket,
    TicketEvent,
)
from tickets.types import IncomingAttachment

pytestmark = pytest.mark.django_db

API = "/api/v1"
PASSWORD = "pw-for-tests-123"  # tests.factories.UserFactory's


@pytest.fixture(autouse=True)
def fast_passwords(settings: Any) -> None:
    # Personas are made per test; the production hasher would dominate the run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def api_for(user: Any | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def api(agent: Any) -> APIClient:
    return api_for(agent)


@pytest.fixture
def pat(db: Any) -> Contact:
    return ContactFactory(name="Pat Customer", email="pat@customer.test")


@pytest.fixture
def support_ticket(support: Group, pat: Contact) -> Ticket:
    return make_ticket(contact=pat, group=support, subject="Order 1234 never arrived")


@pytest.fixture
def billing_ticket(billing: Group) -> Ticket:
    return make_ticket(
        contact=ContactFactory(name="Bill Payer", email="bill@payer.test"),
        group=billing,
        subject="Invoice is wrong",
    )


def numbers(response: Any) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["number"] for row in response.json()["results"]]


# --- who may use it -----------------------------------------------------------------------------

AGENT_ENDPOINTS = [
    "/tickets/",
    "/contacts/",
    "/messages/",
    "/groups/",
    "/tags/",
    "/macros/",
    "/me/",
]


@pytest.mark.parametrize("path", AGENT_ENDPOINTS)
def test_it_refuses_customers_outsiders_and_anonymous_callers(
    path: str, customer: Any, outsider: Any
) -> None:
    assert api_for(customer).get(API + path).status_code == 403
    assert api_for(outsider).get(API + path).status_code == 403
    assert api_for(None).get(API + path).status_code in (401, 403)


@pytest.mark.parametrize("path", AGENT_ENDPOINTS)
def test_it_answers_every_agent_endpoint_for_an_agent(path: str, api: APIClient) -> None:
    assert api.get(API + path).status_code == 200


def test_it_refuses_a_customer_their_own_ticket_through_the_agent_api(
    customer: Any, customer_contact: Contact, support: Group
) -> None:
    ticket = make_ticket(contact=customer_contact, group=support)
    client = api_for(customer)
    assert client.get(f"{API}/tickets/{ticket.number}/").status_code == 403
    assert client.get(f"{API}/tickets/{ticket.number}/messages/").status_code == 403
    response = client.post(
        f"{API}/tickets/{ticket.number}/messages/",
        {"kind": "note", "text": "sneaky"},
        format="json",
    )
    assert response.status_code == 403
    assert not Message.objects.filter(kind=Message.Kind.NOTE).exists()


# --- tokens -------------------------------------------------------------------------------------


@pytest.fixture
def fresh_throttle(agent: Any) -> None:
    cache.delete(token_throttle_key(agent.email))


def test_it_issues_a_token_for_an_agents_email_and_password(
    agent: Any, support_ticket: Ticket, fresh_throttle: None
) -> None:
    response = APIClient().post(
        f"{API}/auth/token/", {"email": "ADA@desk.test", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.content
    token = response.json()["token"]

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert numbers(client.get(f"{API}/tickets/")) == [support_ticket.number]
    again = APIClient().post(
        f"{API}/auth/token/", {"email": agent.email, "password": PASSWORD}, format="json"
    )
    assert again.json()["token"] == token


def test_it_refuses_a_token_for_a_wrong_password_or_a_customer(
    agent: Any, customer: Any, fresh_throttle: None
) -> None:
    cache.delete(token_throttle_key(customer.email))
    wrong = APIClient().post(
        f"{API}/auth/token/", {"email": agent.email, "password": "not-it"}, format="json"
    )
    assert wrong.status_code == 400
    assert "token" not in wrong.json()
    as_customer = APIClient().post(
        f"{API}/auth/token/", {"email": customer.email, "password": PASSWORD}, format="json"
    )
    assert as_customer.status_code == 400
    nobody = APIClient().post(
        f"{API}/auth/token/",
        {"email": "nobody@nowhere.test", "password": PASSWORD},
        format="json",
    )
    assert nobody.status_code == 400


def test_it_rejects_a_bad_token(support_ticket: Ticket) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")
    response = client.get(f"{API}/tickets/")
    # 403 rather than 401: session auth comes first and sends no WWW-Authenticate challenge
    assert response.status_code in (401, 403)
    assert response.json() == {"detail": "Invalid token."}


def test_it_throttles_password_guessing_per_account(agent: Any, fresh_throttle: None) -> None:
    client = APIClient()
    statuses = [
        client.post(
            f"{API}/auth/token/",
            {"email": agent.email, "password": f"guess{i}"},
            format="json",
            REMOTE_ADDR=f"10.0.0.{i}",
        ).status_code
        for i in range(11)
    ]
    assert statuses[:10] == [400] * 10
    assert statuses[10] == 429
    cache.delete(token_throttle_key(agent.email))


# --- tickets: read ------------------------------------------------------------------------------


def test_it_lists_only_the_tickets_of_the_agents_groups(
    api: APIClient, other_agent: Any, support_ticket: Ticket, billing_ticket: Ticket
) -> None:
    assert numbers(api.get(f"{API}/tickets/")) == [support_ticket.number]
    assert numbers(api_for(other_agent).get(f"{API}/tickets/")) == [billing_ticket.number]


def test_it_shows_a_ticket_by_number_with_its_references(
    api: APIClient, agent: Any, support_ticket: Ticket
) -> None:
    services.ticket_set_tags(ticket=support_ticket, names=["vip", "order"], actor=agent)
    services.ticket_assign(ticket=support_ticket, agent=agent, actor=agent)
    response = api.get(f"{API}/tickets/{support_ticket.number}/")
    assert response.status_code == 200
    body = response.json()
    assert body["number"] == support_ticket.number
    assert body["subject"] == "Order 1234 never arrived"
    assert body["status"] == "open"
    assert body["contact"] == {"id": support_ticket.contact_id, "name": "Pat Customer"}
    assert body["group"]["name"] == "Support"
    assert body["assignee"]["id"] == agent.pk
    assert body["tags"] == ["order", "vip"]
    assert body["message_count"] == 1


def test_it_hides_another_groups_ticket_from_an_agent(
    other_agent: Any, support_ticket: Ticket
) -> None:
    client = api_for(other_agent)
    base = f"{API}/tickets/{support_ticket.number}"
    assert client.get(f"{base}/").status_code == 404
    assert client.get(f"{base}/messages/").status_code == 404
    assert client.get(f"{base}/events/").status_code == 404
    assert client.patch(f"{base}/", {"status": "solved"}, format="json").status_code == 404
    assert (
        client.post(f"{base}/messages/", {"kind": "note", "text": "x"}, format="json").status_code
        == 404
    )
    support_ticket.refresh_from_db()
    assert support_ticket.status == Ticket.Status.NEW
    assert support_ticket.message_count == 1


def test_it_shows_every_ticket_to_a_supervisor(
    supervisor: Any, support_ticket: Ticket, billing_ticket: Ticket
) -> None:
    listed = numbers(api_for(supervisor).get(f"{API}/tickets/?ordering=number"))
    assert listed == [support_ticket.number, billing_ticket.number]


def test_it_keeps_the_ticket_list_query_count_flat(
    api: APIClient, agent: Any, support: Group, django_assert_max_num_queries: Any
) -> None:
    def add(count: int) -> None:
        for i in range(count):
            ticket = make_ticket(group=support, subject=f"Ticket {i}")
            services.ticket_set_tags(ticket=ticket, names=[f"t{i % 3}", "common"], actor=agent)
            services.ticket_assign(ticket=ticket, agent=agent, actor=agent)

    add(5)
    with CaptureQueriesContext(connection) as five:
        assert len(numbers(api.get(f"{API}/tickets/"))) == 5
    add(35)
    with django_assert_max_num_queries(len(five.captured_queries)):
        assert len(numbers(api.get(f"{API}/tickets/"))) == 40


# --- tickets: filters, ordering, pages ----------------------------------------------------------


@pytest.fixture
def spread(agent: Any, support: Group, pat: Contact) -> dict[str, Ticket]:
    """Support tickets that differ in one attribute each."""
    now = timezone.now()
    old = make_ticket(group=support, subject="Old question", created_at=now - timedelta(days=10))
    urgent = make_ticket(group=support, subject="Site down", priority=Ticket.Priority.URGENT)
    chat = make_ticket(group=support, subject="Chat about refunds", channel=Channel.CHAT)
    mine = make_ticket(group=support, subject="Assigned one", contact=pat)
    services.ticket_assign(ticket=mine, agent=agent, actor=agent)
    tagged = make_ticket(group=support, subject="Tagged one")
    services.ticket_set_tags(ticket=tagged, names=["vip"], actor=agent)
    solved = make_ticket(group=support, subject="Done already")
    services.ticket_set_status(ticket=solved, status=Ticket.Status.SOLVED, actor=agent)
    return {
        "old": old,
        "urgent": urgent,
        "chat": chat,
        "mine": mine,
        "tagged": tagged,
        "solved": solved,
    }


def test_it_filters_tickets(api: APIClient, agent: Any, spread: dict[str, Ticket]) -> None:
    t = {name: ticket.number for name, ticket in spread.items()}
    url = f"{API}/tickets/"
    assert set(numbers(api.get(url, {"status": ["open", "solved"]}))) == {t["mine"], t["solved"]}
    assert numbers(api.get(url, {"priority": 4})) == [t["urgent"]]
    assert numbers(api.get(url, {"channel": "chat"})) == [t["chat"]]
    assert numbers(api.get(url, {"assignee": agent.pk})) == [t["mine"]]
    assert t["mine"] not in numbers(api.get(url, {"assignee": "none"}))
    assert len(numbers(api.get(url, {"assignee": "none"}))) == 5
    assert numbers(api.get(url, {"tag": "vip"})) == [t["tagged"]]
    assert numbers(api.get(url, {"contact": spread["mine"].contact_id})) == [t["mine"]]
    day_ago = (timezone.now() - timedelta(days=1)).isoformat()
    assert numbers(api.get(url, {"updated_before": day_ago})) == [t["old"]]
    assert t["old"] not in numbers(api.get(url, {"updated_after": day_ago}))
    assert numbers(api.get(url, {"q": "refund"})) == [t["chat"]]
    assert numbers(api.get(url, {"q": f"#{t['urgent']}"})) == [t["urgent"]]
    assert numbers(api.get(url, {"group": spread["old"].group_id, "priority": 4})) == [t["urgent"]]


def test_it_rejects_a_malformed_filter(api: APIClient, spread: dict[str, Ticket]) -> None:
    assert api.get(f"{API}/tickets/", {"assignee": "somebody"}).status_code == 400
    assert api.get(f"{API}/tickets/", {"status": "sleeping"}).status_code == 400
    assert api.get(f"{API}/tickets/", {"updated_after": "yesterday"}).status_code == 400


def test_it_orders_and_pages_tickets(api: APIClient, spread: dict[str, Ticket]) -> None:
    by_number = sorted(t.number for t in spread.values())
    assert numbers(api.get(f"{API}/tickets/", {"ordering": "number"})) == by_number
    assert numbers(api.get(f"{API}/tickets/", {"ordering": "-number"})) == by_number[::-1]
    assert numbers(api.get(f"{API}/tickets/", {"ordering": "-priority"}))[0] == (
        spread["urgent"].number
    )
    first = api.get(f"{API}/tickets/", {"ordering": "number", "page_size": 4}).json()
    assert first["count"] == 6
    assert [r["number"] for r in first["results"]] == by_number[:4]
    second = api.get(first["next"]).json()
    assert [r["number"] for r in second["results"]] == by_number[4:]


def test_it_caps_the_page_size(api: APIClient, support: Group, pat: Contact) -> None:
    Ticket.objects.bulk_create(
        Ticket(subject=f"bulk {i}", contact=pat, group=support) for i in range(205)
    )
    body = api.get(f"{API}/tickets/", {"page_size": 1000}).json()
    assert body["count"] == 205
    assert len(body["results"]) == 200
    assert len(api.get(f"{API}/tickets/").json()["results"]) == 50


# --- tickets: write -----------------------------------------------------------------------------


def test_it_opens_a_ticket_for_a_contact_by_id(
    api: APIClient, agent: Any, support: Group, pat: Contact
) -> None:
    response = api.post(
        f"{API}/tickets/",
        {
            "contact": pat.pk,
            "subject": "Called about a refund",
            "text": "Wants money back.",
            "group": support.pk,
            "priority": 3,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    ticket = Ticket.objects.get(number=body["number"])
    assert (ticket.contact_id, ticket.group_id, ticket.priority) == (pat.pk, support.pk, 3)
    assert ticket.channel == Channel.API
    assert ticket.messages.get().text == "Wants money back."
    created = ticket.events.get(kind=TicketEvent.Kind.CREATED)
    assert created.actor_id == agent.pk


def test_it_opens_a_ticket_for_an_email_making_the_contact(api: APIClient, support: Group) -> None:
    response = api.post(
        f"{API}/tickets/",
        {
            "email": "New.Person@Example.test",
            "name": "New Person",
            "subject": "Hello",
            "text": "First contact.",
            "group": support.pk,
            "channel": "email",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    identity = Identity.objects.get(kind=Identity.Kind.EMAIL, value="new.person@example.test")
    assert identity.contact.name == "New Person"
    assert response.json()["contact"]["id"] == identity.contact_id
    assert response.json()["channel"] == "email"
    again = api.post(
        f"{API}/tickets/",
        {
            "email": "new.person@example.test",
            "subject": "Again",
            "text": "Second.",
        },
        format="json",
    )
    assert again.json()["contact"]["id"] == identity.contact_id


def test_it_refuses_a_ticket_without_exactly_one_contact(
    api: APIClient, pat: Contact, billing_ticket: Ticket
) -> None:
    url = f"{API}/tickets/"
    assert api.post(url, {"subject": "s", "text": "t"}, format="json").status_code == 400
    both = {"contact": pat.pk, "email": "x@y.test", "subject": "s", "text": "t"}
    assert api.post(url, both, format="json").status_code == 400
    # a contact whose only tickets belong to another team is not the agent's to see
    hidden = {"contact": billing_ticket.contact_id, "subject": "s", "text": "t"}
    response = api.post(url, hidden, format="json")
    assert response.status_code == 400
    assert "contact" in response.json()
    assert Ticket.objects.count() == 1


def test_it_changes_several_fields_in_one_request_each_with_its_event(
    api: APIClient, agent: Any, support_ticket: Ticket
) -> None:
    response = api.patch(
        f"{API}/tickets/{support_ticket.number}/",
        {
            "subject": "Order 1234 lost",
            "priority": 4,
            "assignee": agent.pk,
            "tags": ["Lost Parcel", "vip"],
            "status": "pending",
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["subject"] == "Order 1234 lost"
    assert body["priority"] == 4
    assert body["assignee"]["id"] == agent.pk
    assert body["tags"] == ["lost-parcel", "vip"]
    assert body["status"] == "pending"
    opening = [TicketEvent.Kind.CREATED, TicketEvent.Kind.MESSAGE]
    kinds = list(support_ticket.events.exclude(kind__in=opening).values_list("kind", flat=True))
    assert sorted(kinds) == sorted(
        ["subject", "priority", "assignee", "tags", "status", "status"]
    )  # new -> open by assignment, open -> pending
    changes = support_ticket.events.exclude(kind__in=opening)
    assert all(e.actor_id == agent.pk and e.actor_kind == "agent" for e in changes)


def test_it_moves_a_ticket_to_another_group(
    api: APIClient, agent: Any, billing: Group, support_ticket: Ticket
) -> None:
    response = api.patch(
        f"{API}/tickets/{support_ticket.number}/", {"group": billing.pk}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["group"]["name"] == "Billing"
    event = support_ticket.events.get(kind=TicketEvent.Kind.GROUP)
    assert event.new == billing.pk
    # now it is Billing's: the Support agent no longer sees it
    assert api.get(f"{API}/tickets/{support_ticket.number}/").status_code == 404


def test_it_refuses_a_change_the_rules_forbid_and_changes_nothing(
    api: APIClient, agent: Any, customer: Any, support_ticket: Ticket
) -> None:
    response = api.patch(
        f"{API}/tickets/{support_ticket.number}/",
        {
            "subject": "Should not stick",
            "assignee": customer.pk,
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "Tickets can only be assigned to agents."}
    support_ticket.refresh_from_db()
    assert support_ticket.subject == "Order 1234 never arrived"
    assert not support_ticket.events.filter(kind=TicketEvent.Kind.SUBJECT).exists()

    services.ticket_set_status(ticket=support_ticket, status=Ticket.Status.CLOSED, actor=agent)
    closed = api.patch(f"{API}/tickets/{support_ticket.number}/", {"status": "open"}, format="json")
    assert closed.status_code == 400
    assert "closed ticket" in closed.json()["detail"]


def test_it_has_no_put_or_delete_on_tickets(api: APIClient, support_ticket: Ticket) -> None:
    url = f"{API}/tickets/{support_ticket.number}/"
    assert api.put(url, {"subject": "x"}, format="json").status_code == 405
    assert api.delete(url).status_code == 405
    assert Ticket.objects.filter(pk=support_ticket.pk).exists()


# --- messages, events, merge --------------------------------------------------------------------


def test_it_lists_a_tickets_messages_with_notes_and_attachments(
    api: APIClient, agent: Any, support: Group, pat: Contact, settings: Any, tmp_path: Any
) -> None:
    settings.MEDIA_ROOT = tmp_path
    ticket = make_ticket(
        contact=pat,
        group=support,
        attachments=[
            IncomingAttachment(
                filename="invoice.pdf", content_type="application/pdf", payload=b"%PDF-1.4 fake"
            ),
        ],
    )
    services.ticket_note(ticket=ticket, author=agent, text="Checked the warehouse.")
    response = api.get(f"{API}/tickets/{ticket.number}/messages/")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [r["kind"] for r in rows] == ["customer", "note"]
    assert rows[0]["author_contact"]["name"] == "Pat Customer"
    assert rows[1]["author_user"]["id"] == agent.pk
    (attachment,) = rows[0]["attachments"]
    assert attachment["filename"] == "invoice.pdf"
    assert attachment["size"] == len(b"%PDF-1.4 fake")
    assert attachment["url"] == f"/desk/attachments/{attachment['id']}/"


def test_it_posts_a_reply_that_leaves_by_email(
    api: APIClient, agent: Any, support_ticket: Ticket
) -> None:
    ChannelAccount.objects.create(
        kind=ChannelKind.EMAIL, name="support", address="support@desk.test"
    )
    response = api.post(
        f"{API}/tickets/{support_ticket.number}/messages/",
        {"kind": "reply", "text": "It ships today."},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "reply"
    assert body["ticket"] == support_ticket.number
    delivery = OutboundDelivery.objects.get(message_id=body["id"])
    assert delivery.recipient == "pat@customer.test"
    assert delivery.status == OutboundDelivery.Status.QUEUED
    support_ticket.refresh_from_db()
    assert support_ticket.status == Ticket.Status.PENDING
    assert support_ticket.events.filter(kind=TicketEvent.Kind.REPLY, actor=agent).exists()


def test_it_posts_a_note_with_a_status_and_nothing_leaves(
    api: APIClient, support_ticket: Ticket
) -> None:
    ChannelAccount.objects.create(kind=ChannelKind.EMAIL, name="support")
    response = api.post(
        f"{API}/tickets/{support_ticket.number}/messages/",
        {"kind": "note", "text": "Waiting on the courier.", "status": "on_hold"},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["kind"] == "note"
    assert not OutboundDelivery.objects.exists()
    support_ticket.refresh_from_db()
    assert support_ticket.status == Ticket.Status.ON_HOLD


def test_it_refuses_an_empty_reply(api: APIClient, support_ticket: Ticket) -> None:
    url = f"{API}/tickets/{support_ticket.number}/messages/"
    blank = api.post(url, {"kind": "reply", "text": "   "}, format="json")
    assert blank.status_code == 400
    assert blank.json() == {"detail": "A reply needs some text."}
    assert api.post(url, {"kind": "shout", "text": "hi"}, format="json").status_code == 400
    assert support_ticket.messages.count() == 1


def test_it_lists_a_tickets_audit_events(
    api: APIClient, agent: Any, support_ticket: Ticket
) -> None:
    services.ticket_set_priority(ticket=support_ticket, priority=3, actor=agent)
    rows = api.get(f"{API}/tickets/{support_ticket.number}/events/").json()["results"]
    assert [r["kind"] for r in rows] == ["created", "message", "priority"]
    change = rows[2]
    assert change["payload"] == {"old": 2, "new": 3}
    assert change["old"] == 2 and change["new"] == 3  # as earlier clients read a change
    assert change["actor"]["id"] == agent.pk and change["actor_kind"] == "agent"
    assert change["priority"] == 3 and change["status"] == support_ticket.status
    assert change["group"] == support_ticket.group_id and change["assignee"] is None
    assert change["occurred_at"] and change["recorded_at"] and change["dedupe_key"] is None
    assert rows[0]["actor_contact"]["name"] == "Pat Customer"
    assert rows[1]["actor_kind"] == "customer"
    assert rows[1]["payload"]["message"] == support_ticket.messages.get().pk


def test_it_merges_a_ticket_into_another(
    api: APIClient, support: Group, support_ticket: Ticket, billing_ticket: Ticket
) -> None:
    other = make_ticket(group=support, subject="Same order again")
    response = api.post(
        f"{API}/tickets/{other.number}/merge/", {"into": support_ticket.number}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["number"] == support_ticket.number
    assert response.json()["message_count"] == 2
    other.refresh_from_db()
    assert other.merged_into_id == support_ticket.pk
    assert other.status == Ticket.Status.CLOSED
    # merged tickets leave the lists; one cannot merge into a ticket one cannot see
    assert other.number not in numbers(api.get(f"{API}/tickets/"))
    hidden = api.post(
        f"{API}/tickets/{support_ticket.number}/merge/",
        {"into": billing_ticket.number},
        format="json",
    )
    assert hidden.status_code == 400
    assert "into" in hidden.json()
    itself = api.post(
        f"{API}/tickets/{support_ticket.number}/merge/",
        {"into": support_ticket.number},
        format="json",
    )
    assert itself.json() == {"detail": "A ticket cannot be merged into itself."}


def test_it_lists_messages_by_ticket_number_within_what_the_agent_sees(
    api: APIClient, agent: Any, support_ticket: Ticket, billing_ticket: Ticket
) -> None:
    services.ticket_note(ticket=support_ticket, author=agent, text="A note.")
    rows = api.get(f"{API}/messages/", {"ticket": support_ticket.number}).json()["results"]
    assert [r["kind"] for r in rows] == ["customer", "note"]
    assert api.get(f"{API}/messages/", {"ticket": billing_ticket.number}).json()["count"] == 0
    everything = api.get(f"{API}/messages/").json()["results"]
    assert {r["ticket"] for r in everything} == {support_ticket.number}
    notes = api.get(f"{API}/messages/", {"kind": "note"}).json()["results"]
    assert [r["text"] for r in notes] == ["A note."]
    billing_message = billing_ticket.messages.get()
    assert api.get(f"{API}/messages/{billing_message.pk}/").status_code == 404
    support_message = support_ticket.messages.first()
    assert api.get(f"{API}/messages/{support_message.pk}/").status_code == 200


# --- contacts -----------------------------------------------------------------------------------


def ids(response: Any) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_it_lists_the_contacts_an_agent_may_see(
    api: APIClient, supervisor: Any, pat: Contact, support_ticket: Ticket, billing_ticket: Ticket
) -> None:
    loner = ContactFactory(name="No Tickets Yet")
    merged = ContactFactory(name="Gone")
    services.contact_merge(source=merged, target=loner, actor=supervisor)
    assert ids(api.get(f"{API}/contacts/")) == {pat.pk, loner.pk}
    assert ids(api_for(supervisor).get(f"{API}/contacts/")) == {
        pat.pk,
        loner.pk,
        billing_ticket.contact_id,
    }
    assert api.get(f"{API}/contacts/{billing_ticket.contact_id}/").status_code == 404
    body = api.get(f"{API}/contacts/{pat.pk}/").json()
    assert body["name"] == "Pat Customer"
    assert [(i["kind"], i["value"]) for i in body["identities"]] == [("email", "pat@customer.test")]


def test_it_searches_contacts_by_name_identity_and_organisation(
    api: APIClient, pat: Contact
) -> None:
    acme = OrganisationFactory(name="Acme")
    worker = ContactFactory(name="Wile E.", email="wile@acme.test", organisation=acme)
    services.identity_add(contact=worker, kind=Identity.Kind.PHONE, value="+1 202 555 0143")
    assert ids(api.get(f"{API}/contacts/", {"q": "pat cust"})) == {pat.pk}
    assert ids(api.get(f"{API}/contacts/", {"q": "ACME.test"})) == {worker.pk}
    assert ids(api.get(f"{API}/contacts/", {"q": "2025550143"})) == {worker.pk}
    assert ids(api.get(f"{API}/contacts/", {"q": "test"})) == {pat.pk, worker.pk}
    assert ids(api.get(f"{API}/contacts/", {"organisation": acme.pk})) == {worker.pk}


def test_it_keeps_the_contact_list_query_count_flat(
    api: APIClient, django_assert_max_num_queries: Any
) -> None:
    ContactFactory.create_batch(3)
    with CaptureQueriesContext(connection) as few:
        assert len(ids(api.get(f"{API}/contacts/"))) == 3
    ContactFactory.create_batch(20)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(ids(api.get(f"{API}/contacts/"))) == 23


def test_it_creates_a_contact_with_identities(api: APIClient) -> None:
    acme = OrganisationFactory(name="Acme")
    response = api.post(
        f"{API}/contacts/",
        {
            "name": "Road Runner",
            "organisation": acme.pk,
            "notes": "Fast.",
            "identities": [
                {"kind": "email", "value": "Beep@Acme.test"},
                {"kind": "phone", "value": "+44 20 7946 0958"},
            ],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "Road Runner"
    assert body["organisation"] == {"id": acme.pk, "name": "Acme"}
    assert body["notes"] == "Fast."
    assert sorted((i["kind"], i["value"]) for i in body["identities"]) == [
        ("email", "beep@acme.test"),
        ("phone", "+442079460958"),
    ]


def test_it_refuses_a_contact_with_a_taken_or_invalid_identity(
    api: APIClient, pat: Contact
) -> None:
    taken = api.post(
        f"{API}/contacts/",
        {
            "name": "Impostor",
            "identities": [{"kind": "email", "value": "PAT@customer.test"}],
        },
        format="json",
    )
    assert taken.status_code == 400
    assert "already belongs" in taken.json()["detail"]
    invalid = api.post(
        f"{API}/contacts/",
        {
            "name": "Typo",
            "identities": [{"kind": "email", "value": "not an address"}],
        },
        format="json",
    )
    assert invalid.status_code == 400
    none = api.post(f"{API}/contacts/", {"name": "Nobody", "identities": []}, format="json")
    assert none.status_code == 400
    assert Contact.objects.count() == 1


def test_it_updates_a_contact_and_hides_others_from_other_teams(
    api: APIClient, other_agent: Any, pat: Contact, support_ticket: Ticket
) -> None:
    acme = OrganisationFactory(name="Acme")
    response = api.patch(
        f"{API}/contacts/{pat.pk}/", {"name": "Pat C.", "organisation": acme.pk}, format="json"
    )
    assert response.status_code == 200, response.content
    pat.refresh_from_db()
    assert (pat.name, pat.organisation_id) == ("Pat C.", acme.pk)
    cleared = api.patch(f"{API}/contacts/{pat.pk}/", {"organisation": None}, format="json")
    assert cleared.json()["organisation"] is None
    assert cleared.json()["name"] == "Pat C."
    outsider = api_for(other_agent).patch(
        f"{API}/contacts/{pat.pk}/", {"name": "Hacked"}, format="json"
    )
    assert outsider.status_code == 404
    pat.refresh_from_db()
    assert pat.name == "Pat C."


def test_it_lets_only_supervisors_merge_contacts(
    api: APIClient, supervisor: Any, pat: Contact, support_ticket: Ticket
) -> None:
    duplicate = ContactFactory(name="", email="pat.private@home.test")
    ticket = make_ticket(contact=duplicate, group=support_ticket.group)
    url = f"{API}/contacts/{duplicate.pk}/merge/"
    assert api.post(url, {"into": pat.pk}, format="json").status_code == 403
    response = api_for(supervisor).post(url, {"into": pat.pk}, format="json")
    assert response.status_code == 200, response.content
    assert {i["value"] for i in response.json()["identities"]} == {
        "pat@customer.test",
        "pat.private@home.test",
    }
    duplicate.refresh_from_db()
    ticket.refresh_from_db()
    assert duplicate.merged_into_id == pat.pk
    assert ticket.contact_id == pat.pk
    again = api_for(supervisor).post(
        f"{API}/contacts/{pat.pk}/merge/", {"into": pat.pk}, format="json"
    )
    assert again.json() == {"detail": "A contact cannot be merged into itself."}


# --- groups, tags, macros, me -------------------------------------------------------------------


def test_it_lists_groups_tags_and_active_macros(
    api: APIClient, support: Group, billing: Group
) -> None:
    Tag.objects.create(name="vip")
    Macro.objects.create(
        name="Refund",
        body="We refunded you.",
        set_status="solved",
        set_priority=3,
        add_tags="refund, money",
    )
    Macro.objects.create(name="Retired", active=False)
    groups = api.get(f"{API}/groups/").json()["results"]
    assert [g["name"] for g in groups] == ["Billing", "Support"]
    assert [t["name"] for t in api.get(f"{API}/tags/").json()["results"]] == ["vip"]
    (macro,) = api.get(f"{API}/macros/").json()["results"]
    assert macro["name"] == "Refund"
    assert macro["set_status"] == "solved"
    assert macro["set_priority"] == 3
    assert macro["add_tags"] == ["refund", "money"]


def test_it_describes_the_current_agent(api: APIClient, agent: Any, supervisor: Any) -> None:
    body = api.get(f"{API}/me/").json()
    assert body["id"] == agent.pk
    assert body["email"] == "ada@desk.test"
    assert body["roles"] == ["Agent"]
    assert [g["name"] for g in body["groups"]] == ["Support"]
    assert api_for(supervisor).get(f"{API}/me/").json()["roles"] == ["Supervisor"]


# --- another channel, logged calls --------------------------------------------------------------


def test_it_replies_by_another_channel_the_contact_owns(
    api: APIClient, pat: Contact, support_ticket: Ticket
) -> None:
    services.identity_add(contact=pat, kind=Identity.Kind.PHONE, value="+12025550143")
    url = f"{API}/tickets/{support_ticket.number}/messages/"

    response = api.post(url, {"kind": "reply", "text": "Sent by text.", "channel": "sms"})

    assert response.status_code == 201, response.content
    assert response.json()["channel"] == "sms"
    delivery = OutboundDelivery.objects.get(message_id=response.json()["id"])
    assert (delivery.channel, delivery.recipient) == ("sms", "+12025550143")


def test_it_refuses_a_reply_by_a_channel_that_cannot_reach_the_contact(
    api: APIClient, support_ticket: Ticket
) -> None:
    url = f"{API}/tickets/{support_ticket.number}/messages/"

    refused = api.post(url, {"kind": "reply", "text": "Hello?", "channel": "whatsapp"})
    unknown = api.post(url, {"kind": "reply", "text": "Hello?", "channel": "fax"})

    assert refused.status_code == 400
    assert refused.json() == {
        "channel": ["The contact cannot be reached by whatsapp; use one of: email."]
    }
    assert unknown.status_code == 400
    assert support_ticket.messages.count() == 1
    assert not OutboundDelivery.objects.exists()


def test_it_logs_a_call_on_a_ticket(api: APIClient, agent: Any, support_ticket: Ticket) -> None:
    url = f"{API}/tickets/{support_ticket.number}/calls/"

    response = api.post(
        url,
        {"direction": "outbound", "duration_seconds": 240, "notes": "Promised a refund."},
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "note" and body["channel"] == "phone"
    assert body["author_user"]["id"] == agent.pk
    assert body["call"] == {
        "direction": "outbound",
        "duration_seconds": 240,
        "notes": "Promised a refund.",
    }
    listed = api.get(f"{API}/tickets/{support_ticket.number}/messages/").json()["results"]
    assert [m["call"] for m in listed][0] is None and listed[-1]["call"]["duration_seconds"] == 240
    assert support_ticket.events.filter(kind=TicketEvent.Kind.NOTE, actor=agent).exists()


def test_it_refuses_a_malformed_call(api: APIClient, support_ticket: Ticket) -> None:
    url = f"{API}/tickets/{support_ticket.number}/calls/"
    for bad in (
        {"direction": "sideways", "duration_seconds": 10},
        {"direction": "inbound", "duration_seconds": -1},
        {"direction": "inbound", "duration_seconds": 90_000},
        {"direction": "inbound"},
    ):
        assert api.post(url, bad, format="json").status_code == 400, bad
    assert support_ticket.messages.count() == 1


def test_it_refuses_calls_on_tickets_the_caller_may_not_work_on(
    other_agent: Any, customer: Any, support_ticket: Ticket
) -> None:
    url = f"{API}/tickets/{support_ticket.number}/calls/"
    call = {"direction": "inbound", "duration_seconds": 30, "notes": "sneaky"}
    assert api_for(other_agent).post(url, call, format="json").status_code == 404
    assert api_for(customer).post(url, call, format="json").status_code == 403
    assert api_for(None).post(url, call, format="json").status_code in (401, 403)
    assert support_ticket.messages.count() == 1

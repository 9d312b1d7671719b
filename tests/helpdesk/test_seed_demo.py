"""seed_demo: the demo desk `make run` starts with, and the bulk loader the benchmarks use."""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import Count, F, Q
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from channels_in.config import load_config
from channels_in.models import ChannelAccount, OutboundDelivery
from helpdesk.management.commands.seed_demo import build_base, plan_tickets
from tickets import sla_events
from tickets.models import Contact, Group, Identity, Message, Ticket, TicketEvent
from tickets.roles import Role, is_agent, sees_all_tickets

User = get_user_model()
DEMO = ("--tickets-demo", "40")
# Five real PBKDF2 hashes per seed would be most of this file's run time; the logins are still
# checked against the stored hashes.
FAST_HASHER = ["django.contrib.auth.hashers.MD5PasswordHasher"]

pytestmark = pytest.mark.django_db


def seed(*args: str) -> str:
    out = StringIO()
    with override_settings(PASSWORD_HASHERS=FAST_HASHER):
        call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def subjects() -> list[str]:
    return list(Ticket.objects.order_by("number").values_list("subject", flat=True))


def index_definitions() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename IN ('tickets_ticket', "
            "'tickets_message', 'tickets_ticketevent', 'tickets_contact', 'tickets_identity') "
            "ORDER BY indexdef"
        )
        return [row[0] for row in cursor.fetchall()]


@pytest.fixture(autouse=True)
def fast_hasher(settings: Any) -> None:
    settings.PASSWORD_HASHERS = FAST_HASHER


@pytest.fixture(scope="module")
def demo_desk(django_db_setup: Any, django_db_blocker: Any) -> Iterator[str]:
    """One seeded desk for the whole module (seeding is the slow part), rolled back after it;
    each test runs in a savepoint inside it, as Django's TestCase.setUpTestData does."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            yield seed(*DEMO)
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


def test_it_seeds_a_demo_desk_whose_logins_work(demo_desk: str) -> None:
    output = demo_desk

    assert Ticket.objects.count() == 40
    assert set(Group.objects.values_list("name", flat=True)) >= {"Support", "Billing", "Technical"}
    logins = {
        "admin@demo.helpdesk": "demo-admin",
        "sue@demo.helpdesk": "demo-supervisor",
        "ada@demo.helpdesk": "demo-agent",
        "bob@demo.helpdesk": "demo-agent",
        "alice@example.com": "demo-customer",
    }
    for email, password in logins.items():
        user = User.objects.get(email=email)
        assert user.check_password(password), email
        assert user.username == email.split("@")[0]
        assert EmailAddress.objects.filter(user=user, email=email, verified=True, primary=True)
        assert email in output
    admin = User.objects.get(email="admin@demo.helpdesk")
    assert admin.is_superuser and admin.is_staff
    assert admin.groups.filter(name=Role.ADMIN).exists()
    sue = User.objects.get(email="sue@demo.helpdesk")
    assert sees_all_tickets(sue) and not sue.is_superuser
    ada = User.objects.get(email="ada@demo.helpdesk")
    assert is_agent(ada) and not sees_all_tickets(ada)
    assert set(ada.helpdesk_groups.values_list("name", flat=True)) == {"Support", "Technical"}
    assert set(
        User.objects.get(email="bob@demo.helpdesk").helpdesk_groups.values_list("name", flat=True)
    ) == {"Billing"}
    assert ada.agent_profile.display_name and ada.agent_profile.signature
    alice = User.objects.get(email="alice@example.com")
    assert not is_agent(alice)
    assert alice.contact.organisation.name == "Acme Corp"

    # allauth's real login form, by email
    client = Client()
    response = client.post(
        reverse("account_login"), {"login": "ada@demo.helpdesk", "password": "demo-agent"}
    )
    assert response.status_code == 302
    assert int(client.session["_auth_user_id"]) == ada.pk
    refused = Client().post(
        reverse("account_login"), {"login": "ada@demo.helpdesk", "password": "wrong-one"}
    )
    assert refused.status_code == 200 and "_auth_user_id" not in refused.wsgi_request.session


def test_it_makes_the_accounts_and_people_tickets_hang_on(demo_desk: str) -> None:
    accounts = {a.name: a for a in ChannelAccount.objects.select_related("group")}
    assert accounts["support"].address == "support@demo.helpdesk"
    assert accounts["support"].group.name == "Support"
    assert accounts["billing"].address == "billing@demo.helpdesk"
    assert accounts["billing"].group.name == "Billing"
    assert {a.kind for a in accounts.values()} >= {"email", "chat", "telegram", "whatsapp", "sms"}
    for account in accounts.values():
        load_config(account)  # each demo account's options are valid for its channel
    assert Contact.objects.count() >= 50
    kinds = dict(Identity.objects.values_list("kind").annotate(n=Count("id")))
    assert kinds["email"] >= 40 and kinds["phone"] >= 5
    assert kinds["telegram"] >= 2 and kinds["whatsapp"] >= 2
    assert all(
        v.startswith("+")
        for v in Identity.objects.filter(kind="phone").values_list("value", flat=True)
    )
    assert Contact.objects.filter(organisation__name="Acme Corp").count() >= 5


def test_it_does_nothing_the_second_time_with_if_empty(demo_desk: str) -> None:
    counts = (Ticket.objects.count(), Message.objects.count(), User.objects.count())

    output = seed("--if-empty", *DEMO)

    assert "nothing to do" in output
    assert (Ticket.objects.count(), Message.objects.count(), User.objects.count()) == counts


def test_it_tells_coherent_histories_through_the_services(demo_desk: str) -> None:
    tickets = list(Ticket.objects.select_related("assignee", "group"))
    assert len({t.status for t in tickets}) >= 4
    assert len({t.channel for t in tickets}) >= 4
    assert len({t.subject for t in tickets}) >= 20
    for ticket in tickets:
        messages = list(ticket.messages.order_by("created_at", "id"))
        assert 1 <= len(messages) <= 6
        assert ticket.message_count == len(messages)
        assert messages[0].kind == Message.Kind.CUSTOMER
        assert messages[0].created_at == ticket.created_at
        assert all(m.created_at >= ticket.created_at for m in messages)
        assert max(m.created_at for m in messages) <= ticket.updated_at
        if ticket.first_response_at:
            assert ticket.created_at < ticket.first_response_at
        if ticket.status in (Ticket.Status.SOLVED, Ticket.Status.CLOSED):
            # the resolving reply may be the first one
            assert ticket.first_response_at <= ticket.solved_at <= ticket.updated_at
        if ticket.assignee is not None and not sees_all_tickets(ticket.assignee):
            assert ticket.assignee.helpdesk_groups.filter(pk=ticket.group_id).exists()
    events = TicketEvent.objects.annotate(opened=F("ticket__created_at"))
    assert TicketEvent.objects.filter(kind="created").count() == 40
    assert not events.filter(occurred_at__lt=F("opened")).exists()
    # an SLA milestone comes with time (a due instant passing), not with a change to the ticket
    changes = events.exclude(kind__in=sla_events.KINDS)
    assert not changes.filter(occurred_at__gt=F("ticket__updated_at")).exists()
    assert events.filter(kind__in=sla_events.KINDS).exists()
    # every message has its event, at the message's own time
    for message in Message.objects.exclude(kind=Message.Kind.SYSTEM):
        kinds = {"customer": "message", "reply": "reply", "note": "note"}
        event = TicketEvent.objects.get(kind=kinds[message.kind], payload__message=message.pk)
        assert event.occurred_at == message.created_at
    replies = Message.objects.filter(kind=Message.Kind.REPLY)
    assert replies.exists()
    # history, not news: every reply that would have left is recorded as sent, none queued
    assert not OutboundDelivery.objects.exclude(status=OutboundDelivery.Status.SENT).exists()
    assert OutboundDelivery.objects.count() == replies.exclude(channel="web").count()
    assert not replies.filter(channel="email", external_id="").exists()


def test_it_tells_the_same_stories_for_the_same_seed(demo_desk: str) -> None:
    first = subjects()  # the desk was seeded with the default seed, 1

    seed("--seed", "1", *DEMO)

    assert subjects()[40:] == first
    base, now = build_base(), timezone.now()
    other = [plan.subject for plan in plan_tickets(seed=8, count=40, base=base, now=now)]
    assert other != [plan.subject for plan in plan_tickets(seed=1, count=40, base=base, now=now)]


def test_it_seeds_an_empty_database_with_if_empty(demo_desk: str) -> None:
    Ticket.objects.all().delete()

    output = seed("--if-empty", "--tickets-demo", "5")

    assert Ticket.objects.count() == 5
    assert "alice@example.com" in output


def test_it_bulk_loads_tickets_with_copy(demo_desk: str) -> None:
    seed("--tickets", "2000", "--batch-size", "700")
    assert Ticket.objects.count() == 2040
    users = User.objects.count()
    indexes = index_definitions()

    # the big-load way: secondary indexes dropped, then built again in the same transaction
    seed("--tickets", "2000", "--batch-size", "1000", "--rebuild-indexes", "always")

    assert index_definitions() == indexes

    assert Ticket.objects.count() == 4040
    assert User.objects.count() == users  # the base is made once
    numbers = Ticket.objects.values_list("number", flat=True)
    assert len(set(numbers)) == 4040
    assert Ticket.objects.values("reply_token").distinct().count() == 4040
    # the loader may skip foreign-key triggers: check every reference by hand
    with connection.cursor() as cursor:
        for child, column, parent in (
            ("tickets_ticket", "contact_id", "tickets_contact"),
            ("tickets_ticket", "organisation_id", "tickets_organisation"),
            ("tickets_ticket", "group_id", "tickets_group"),
            ("tickets_ticket", "assignee_id", "auth_user"),
            ("tickets_message", "ticket_id", "tickets_ticket"),
            ("tickets_message", "author_contact_id", "tickets_contact"),
            ("tickets_message", "author_user_id", "auth_user"),
            ("tickets_ticketevent", "ticket_id", "tickets_ticket"),
            ("tickets_ticketevent", "actor_contact_id", "tickets_contact"),
            ("tickets_identity", "contact_id", "tickets_contact"),
            ("tickets_ticket_tags", "ticket_id", "tickets_ticket"),
            ("tickets_ticket_tags", "tag_id", "tickets_tag"),
        ):
            cursor.execute(
                f"SELECT count(*) FROM {child} c WHERE c.{column} IS NOT NULL AND NOT EXISTS "  # noqa: S608
                f"(SELECT 1 FROM {parent} p WHERE p.id = c.{column})"
            )
            assert cursor.fetchone()[0] == 0, f"{child}.{column} dangles"
        cursor.execute("SHOW session_replication_role")
        assert cursor.fetchone()[0] == "origin"  # foreign keys are checked again afterwards
    counted = Ticket.objects.annotate(n=Count("messages"))
    assert not counted.exclude(message_count=F("n")).exists()
    assert TicketEvent.objects.filter(kind="created").count() == 4040
    assert not Ticket.objects.filter(
        Q(first_response_at__lt=F("created_at")) | Q(solved_at__lt=F("first_response_at"))
    ).exists()
    assert Ticket.objects.filter(status="closed").count() > 1000
    assert Ticket.objects.filter(status__in=Ticket.ACTIVE_STATUSES).exists()
    assert not Contact.objects.filter(identities__isnull=True).exists()


def test_it_seeds_help_centre_articles_in_two_languages(demo_desk: str) -> None:
    from kb.models import Article

    assert "help-centre articles" in demo_desk
    locales = set(Article.objects.filter(status="published").values_list("locale", flat=True))
    assert {"en", "fr"} <= locales


def test_it_gives_the_demo_an_sla_policy_and_due_times(demo_desk: str) -> None:
    from tickets.models import Ticket
    from tickets.sla_models import SlaPolicy

    assert SlaPolicy.objects.filter(name="Standard", conditions={}).exists()
    open_tickets = Ticket.objects.filter(status__in=Ticket.ACTIVE_STATUSES)
    assert open_tickets.exists()
    assert open_tickets.filter(sla_policy__name="Standard").count() == open_tickets.count()
    assert open_tickets.filter(sla_due_at__isnull=False).exists()

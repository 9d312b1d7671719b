"""The Django admin: every model of the core and of the channel edges opens for a superuser,
without a query per row; the audit and the pipeline's rows are read-only; failed pipeline rows
can be pushed through again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from channels_in.models import (
    ChannelAccount,
    ChannelKind,
    ChatConversation,
    ChatLine,
    InboundMessage,
    MailboxState,
    OutboundDelivery,
)
from tests.conftest import client_for
from tests.factories import ContactFactory, UserFactory, make_agent
from tickets import calendar_services, services
from tickets.automation import engine
from tickets.automation.models import AutomationRule, TimeRun
from tickets.calendar_import import HolidayInput
from tickets.history_import import parse_record
from tickets.models import (
    AgentProfile,
    Group,
    Macro,
    Organisation,
    Participant,
    SavedView,
    Ticket,
    TicketEvent,
)
from tickets.roles import Role
from tickets.search.index import documents_refresh
from tickets.sla_models import SlaPolicy
from tickets.sla_services import ticket_sla_recompute
from tickets.types import IncomingAttachment

pytestmark = pytest.mark.django_db

ADMIN_APPS = ("tickets", "channels_in")
REGISTERED = sorted(
    (model for model in admin.site._registry if model._meta.app_label in ADMIN_APPS),
    key=lambda model: model._meta.label,
)
RAW_EMAIL = (
    b"From: someone@example.test\r\nTo: box@desk.test\r\nSubject: Hi\r\n"
    b"Message-ID: <raw-1@example.test>\r\n\r\nHello there.\r\n"
)


def make_rows(n: int) -> Ticket:
    """A couple of rows of every model (run it twice for more), made the way the product
    makes them: tickets, replies and audit events through the services."""
    org = Organisation.objects.create(name=f"Org {n}", domains=f"org{n}.test")
    group = Group.objects.create(name=f"Team {n}")
    agent = make_agent(f"agent{n}", groups=[group])
    AgentProfile.objects.create(user=agent, display_name=f"Agent {n}")
    contact = ContactFactory(name=f"Customer {n}", email=f"c{n}@org{n}.test", organisation=org)
    ticket = services.ticket_create(
        contact=contact,
        subject=f"Problem {n}",
        text="Help.",
        channel="email",
        group=group,
        attachments=[IncomingAttachment("log.txt", "text/plain", f"log {n}".encode())],
    )
    services.ticket_set_tags(ticket=ticket, names=[f"tag{n}"], actor=agent)
    services.ticket_assign(ticket=ticket, agent=agent, actor=agent)
    Participant.objects.create(ticket=ticket, contact=ContactFactory(name=f"Cc {n}"))
    account = ChannelAccount.objects.create(
        kind=ChannelKind.EMAIL, name=f"box{n}", address=f"box{n}@desk.test", group=group
    )
    services.ticket_reply(ticket=ticket, author=agent, text="On it.")  # an OutboundDelivery
    services.ticket_note(ticket=ticket, author=agent, text="Internal.")
    Macro.objects.create(name=f"Macro {n}", body="Thanks!", set_status="solved", add_tags="a,b")
    SavedView.objects.create(name=f"View {n}", owner=agent, group=group, filters={"q": "help"})
    services.bulk_job_start(
        actor=agent, action="priority", params={"priority": "3"}, ticket_ids=[ticket.pk]
    )
    documents_refresh(ticket_ids=[ticket.pk])  # its SearchDocument
    SlaPolicy.objects.create(name=f"SLA {n}", targets={"normal": {"first_reply": n}})
    ticket_sla_recompute(ticket_id=ticket.pk, now=ticket.created_at + timedelta(minutes=9))
    imported = {
        "external_id": f"old-desk-{n}",
        "subject": f"Imported {n}",
        "contact": {"email": f"c{n}@org{n}.test"},
        "events": [{"at": "2026-03-02T16:30:00+01:00", "kind": "customer_message", "text": "Hi"}],
    }
    services.ticket_import(record=parse_record(imported))  # its TicketImport
    watcher = make_agent(f"watcher{n}", groups=[group])
    services.ticket_follow(ticket=ticket, user=watcher)
    services.notification_settings_update(user=watcher, choices={"mention": (True, False)})
    services.notify_sla_warning(ticket, target="first response")  # a Notification
    for status, reason in (("failed", "could not parse"), ("processed", "new ticket")):
        InboundMessage.objects.create(
            account=account,
            external_id=f"<{status}-{n}@example.test>",
            raw=RAW_EMAIL,
            raw_sha256="0" * 64,
            status=status,
            reason=reason,
            attempts=1,
        )
    MailboxState.objects.create(account=account, folder="INBOX", uidvalidity=7, last_uid=n)
    chat = ChatConversation.objects.create(
        account=account,
        visitor_id=f"visitor-{n}",
        visitor_name=f"Visitor {n}",
        contact=contact,
        ticket=ticket,
        agent=agent,
        status=ChatConversation.Status.ACTIVE,
    )
    ChatLine.objects.create(conversation=chat, seq=1, kind=ChatLine.Kind.SYSTEM, text="Joined.")
    ChatLine.objects.create(
        conversation=chat, seq=2, kind=ChatLine.Kind.AGENT, message=ticket.messages.last()
    )
    rule = AutomationRule.objects.create(
        name=f"Rule {n}",
        events=["tag_added"],
        actions=[{"type": "webhook", "url": "https://hooks.example.test/h", "secret": "s" * 20}],
    )
    # a TriggerRun and a WebhookCall, the way the engine writes them
    engine.triggers_run(event_id=ticket.events.filter(kind="tags").latest("id").pk)
    TimeRun.objects.create(rule=rule, ticket=ticket, state_since=ticket.created_at)
    calendar_services.calendar_create(
        name=f"Hours {n}",
        timezone_name="Europe/Berlin",
        hours={"mon": [["09:00", "17:00"]]},
        holidays=[HolidayInput(date(2026, 12, n), f"Holiday {n}")],
        groups=[group],
    )
    return ticket


@pytest.fixture(autouse=True)
def fast_passwords(settings: Any) -> None:
    # Every batch of rows makes an agent; the production hasher would dominate the run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def superuser(db: Any) -> Any:
    return UserFactory(username="boss", email="boss@desk.test", is_staff=True, is_superuser=True)


@pytest.fixture
def boss(superuser: Any) -> Client:
    return client_for(superuser)


@pytest.fixture
def rows(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path
    make_rows(1)
    make_rows(2)


@pytest.fixture
def eager_celery() -> Iterator[None]:
    """Queued tasks run in this process, on this test's database, as the worker would run them."""
    from helpdesk.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


def url(model: type[Any], view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_it_registers_every_model_of_the_core_and_the_edges() -> None:
    models = {m for label in ADMIN_APPS for m in apps.get_app_config(label).get_models()}
    assert models == set(REGISTERED)


@pytest.mark.parametrize("model", REGISTERED, ids=lambda m: m._meta.label)
def test_it_opens_every_changelist_add_and_change_page(
    model: type[Any], boss: Client, rows: None
) -> None:
    assert model.objects.count() >= 2
    changelist = boss.get(url(model, "changelist"))
    assert changelist.status_code == 200
    model_admin = admin.site._registry[model]
    request = changelist.wsgi_request
    expected_add = 200 if model_admin.has_add_permission(request) else 403
    assert boss.get(url(model, "add")).status_code == expected_add
    assert boss.get(url(model, "change", model.objects.first().pk)).status_code == 200


def test_it_keeps_every_changelists_query_count_flat(
    boss: Client, settings: Any, tmp_path: Any
) -> None:
    settings.MEDIA_ROOT = tmp_path

    def count_queries() -> dict[str, int]:
        counts = {}
        for model in REGISTERED:
            with CaptureQueriesContext(connection) as queries:
                assert boss.get(url(model, "changelist")).status_code == 200
            counts[model._meta.label] = len(queries.captured_queries)
        return counts

    make_rows(1)
    few = count_queries()
    for n in range(2, 6):
        make_rows(n)
    assert count_queries() == few


def test_it_searches_tickets_by_number_and_subject(boss: Client, rows: None) -> None:
    ticket = Ticket.objects.get(subject="Problem 2")
    by_number = boss.get(url(Ticket, "changelist"), {"q": str(ticket.number)})
    assert by_number.status_code == 200
    assert list(by_number.context["cl"].result_list) == [ticket]
    by_words = boss.get(url(Ticket, "changelist"), {"q": "problem 1"})
    assert [t.subject for t in by_words.context["cl"].result_list] == ["Problem 1"]


def test_it_never_lets_the_audit_trail_be_edited(boss: Client, rows: None) -> None:
    event = TicketEvent.objects.first()
    assert boss.get(url(TicketEvent, "add")).status_code == 403
    edited = boss.post(url(TicketEvent, "change", event.pk), {"kind": "status"})
    assert edited.status_code == 403
    assert boss.post(url(TicketEvent, "delete", event.pk), {"post": "yes"}).status_code == 403
    assert TicketEvent.objects.filter(pk=event.pk, kind=event.kind).exists()


@pytest.mark.parametrize("model", [InboundMessage, OutboundDelivery], ids=lambda m: m.__name__)
def test_it_keeps_pipeline_rows_read_only(model: type[Any], boss: Client, rows: None) -> None:
    row = model.objects.first()
    assert boss.get(url(model, "add")).status_code == 403
    assert boss.post(url(model, "delete", row.pk), {"post": "yes"}).status_code == 403
    assert model.objects.filter(pk=row.pk).exists()


def test_it_shows_the_raw_inbound_payload(boss: Client, rows: None) -> None:
    inbound = InboundMessage.objects.first()
    page = boss.get(url(InboundMessage, "change", inbound.pk))
    assert b"Hello there." in page.content


def test_it_reprocesses_only_the_failed_inbound_messages(
    boss: Client, rows: None, eager_celery: None, django_capture_on_commit_callbacks: Any
) -> None:
    failed = list(InboundMessage.objects.filter(status="failed").order_by("id"))
    processed = InboundMessage.objects.filter(status="processed").first()
    selected = [failed[0].pk, processed.pk]
    with django_capture_on_commit_callbacks(execute=True):
        response = boss.post(
            url(InboundMessage, "changelist"),
            {
                "action": "reprocess",
                "_selected_action": selected,
                "index": 0,
            },
        )
    assert response.status_code == 302
    failed[0].refresh_from_db()
    failed[1].refresh_from_db()
    processed.refresh_from_db()
    assert failed[0].attempts == 2  # the worker's task ran on it again
    assert failed[0].reason != "could not parse"
    assert failed[1].attempts == 1  # not selected
    assert (processed.attempts, processed.reason) == (1, "new ticket")


def test_it_retries_only_the_failed_deliveries(
    boss: Client, rows: None, eager_celery: None, django_capture_on_commit_callbacks: Any
) -> None:
    first, second = OutboundDelivery.objects.order_by("id")
    OutboundDelivery.objects.filter(pk=first.pk).update(
        status="failed", error="SMTP refused", attempts=1
    )
    OutboundDelivery.objects.filter(pk=second.pk).update(status="sent", attempts=1)
    with django_capture_on_commit_callbacks(execute=True):
        response = boss.post(
            url(OutboundDelivery, "changelist"),
            {
                "action": "retry_failed",
                "_selected_action": [first.pk, second.pk],
                "index": 0,
            },
        )
    assert response.status_code == 302
    first.refresh_from_db()
    second.refresh_from_db()
    # put back in the queue, and the delivery task has run on it: the old error is gone and
    # the row holds this attempt's outcome (how it fares is the channel's business)
    assert first.error != "SMTP refused"
    assert first.status in ("sent", "failed")
    assert first.attempts >= 2
    assert (second.status, second.attempts) == ("sent", 1)


def test_it_keeps_the_admin_from_agents(rows: None) -> None:
    agent = make_agent("plain", groups=[Group.objects.first()])
    response = client_for(agent).get(url(Ticket, "changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_it_opens_to_the_admin_role_without_staff_status(rows: None) -> None:
    """Promoting someone to the Admin role is enough: no "staff status" tick as well, and
    every model is theirs, including ones added after the role's permissions were granted."""
    root = make_agent("root-role", role=Role.ADMIN)
    assert not root.is_staff and not root.is_superuser
    client = client_for(root)
    assert client.get(reverse("admin:index")).status_code == 200
    for model in (Ticket, ChatConversation, InboundMessage):
        assert client.get(url(model, "changelist")).status_code == 200


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.AGENT])
def test_it_keeps_the_admin_from_other_roles(role: Role, rows: None) -> None:
    user = make_agent(f"not-admin-{role}", role=role)
    assert client_for(user).get(reverse("admin:index")).status_code == 302


def test_it_keeps_the_admin_from_a_deactivated_admin(rows: None) -> None:
    root = make_agent("gone", role=Role.ADMIN)
    root.is_active = False
    root.save(update_fields=["is_active"])
    assert not root.has_perm("tickets.view_ticket")
    client = Client()
    client.force_login(root)
    assert client.get(reverse("admin:index")).status_code == 302

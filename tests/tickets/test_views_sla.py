"""SLA in the desk: the queue's countdown badges and "due soonest" sort, the ticket page's
targets card, and the admins' policy pages (list, create with the grid, edit, reorder, delete)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from tests.conftest import client_for
from tests.factories import make_ticket
from tickets import services
from tickets.models import Group
from tickets.sla_models import SlaPolicy
from tickets.sla_services import ticket_sla_recompute

TARGETS = {"normal": {"first_reply": 60, "resolution": 480}}


@pytest.fixture
def admin_client(admin_user: Any) -> Client:
    return client_for(admin_user)


def grid_post(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Standard",
        "active": "on",
        "calendar": "",
        "priority": ["urgent", "high"],
        "channel": ["email"],
        "tags": "vip, refund",
        "pause_on": ["pending"],
        "pause_targets": ["resolution", "next_reply"],
        "t_urgent_first_reply": "15",
        "t_urgent_resolution": "120",
        "t_high_first_reply": "30",
    }
    data.update(overrides)
    return data


def test_the_queue_shows_countdowns_and_sorts_by_due_soonest(
    agent_client: Client, support: Group, django_assert_max_num_queries: Any
) -> None:
    SlaPolicy.objects.create(name="Standard", targets=TARGETS)
    late = make_ticket(
        group=support, subject="Late one", created_at=timezone.now() - timedelta(hours=2)
    )
    soon = make_ticket(
        group=support, subject="Soon one", created_at=timezone.now() - timedelta(minutes=50)
    )
    none = make_ticket(group=support, subject="No target")
    services.ticket_set_status(ticket=none, status="solved", actor=None)
    for ticket in (late, soon, none):
        ticket_sla_recompute(ticket_id=ticket.pk)
    with django_assert_max_num_queries(13):  # the saved-views sidebar and the bulk bar add three
        html = agent_client.get("/desk/?sort=due&view=all").content.decode()
    assert html.index("Late one") < html.index("Soon one") < html.index("No target")
    assert "overdue by 1h 0m" in html
    assert 'class="sla-badge sla-overdue"' in html
    assert "m left" in html
    assert html.count("data-sla-due=") == 2


def test_the_ticket_page_shows_each_target(
    agent: Any, agent_client: Client, support: Group
) -> None:
    SlaPolicy.objects.create(name="Standard", targets=TARGETS)
    ticket = make_ticket(group=support, created_at=timezone.now() - timedelta(hours=2))
    services.ticket_reply(ticket=ticket, author=agent, text="Sorry for the wait")
    ticket_sla_recompute(ticket_id=ticket.pk)
    html = agent_client.get(f"/desk/tickets/{ticket.number}/").content.decode()
    card = html[html.index('id="sla-card"') :]
    assert "Standard" in card[:300]
    assert "First reply" in card and "Breached" in card
    assert "Resolution" in card and "Paused" in card  # a reply sets it pending
    assert "/static/js/sla.js" in html


def test_an_admin_creates_a_policy_with_the_grid(admin_client: Client, support: Group) -> None:
    assert admin_client.get("/desk/sla/new/").status_code == 200
    response = admin_client.post("/desk/sla/new/", grid_post(group=[support.pk]))
    assert response.status_code == 302
    policy = SlaPolicy.objects.get()
    assert policy.targets == {
        "high": {"first_reply": 30},
        "urgent": {"first_reply": 15, "resolution": 120},
    }
    assert policy.conditions == {
        "priority": ["urgent", "high"],
        "group": ["Support"],
        "channel": ["email"],
        "tags": ["vip", "refund"],
    }
    assert policy.pause_on == ["pending"] and policy.pause_targets == ["next_reply", "resolution"]
    edit = admin_client.get(f"/desk/sla/{policy.pk}/").content.decode()
    assert 'name="t_urgent_first_reply" value="15"' in edit


def test_bad_policy_input_shows_the_error_and_saves_nothing(admin_client: Client) -> None:
    response = admin_client.post("/desk/sla/new/", grid_post(t_urgent_first_reply="0"))
    assert response.status_code == 400
    assert not SlaPolicy.objects.exists()
    SlaPolicy.objects.create(name="Standard", targets=TARGETS)
    response = admin_client.post("/desk/sla/new/", grid_post())
    assert response.status_code == 400 and "exists already" in response.content.decode()


def test_an_admin_reorders_edits_and_deletes_policies(
    admin_client: Client, django_assert_max_num_queries: Any
) -> None:
    first = SlaPolicy.objects.create(name="First", position=0, targets=TARGETS)
    second = SlaPolicy.objects.create(name="Second", position=1, targets=TARGETS)
    SlaPolicy.objects.create(name="Third", position=2, targets=TARGETS, conditions={"tags": ["x"]})
    with django_assert_max_num_queries(8):
        html = admin_client.get("/desk/sla/").content.decode()
    assert html.index("First") < html.index("Second") < html.index("Third")
    admin_client.post(f"/desk/sla/{second.pk}/move/", {"direction": "up"})
    names = list(SlaPolicy.objects.order_by("position").values_list("name", flat=True))
    assert names == ["Second", "First", "Third"]
    response = admin_client.post(
        f"/desk/sla/{first.pk}/", grid_post(name="First renamed", priority=[])
    )
    assert response.status_code == 302
    first.refresh_from_db()
    assert first.name == "First renamed" and first.position == 1
    admin_client.post(f"/desk/sla/{first.pk}/delete/")
    assert not SlaPolicy.objects.filter(pk=first.pk).exists()


def test_only_admins_manage_policies(agent_client: Client, supervisor: Any) -> None:
    policy = SlaPolicy.objects.create(name="Standard", targets=TARGETS)
    for client in (agent_client, client_for(supervisor)):
        assert client.get("/desk/sla/").status_code == 403
        assert client.post("/desk/sla/new/", grid_post(name="Mine")).status_code == 403
        assert client.post(f"/desk/sla/{policy.pk}/delete/").status_code == 403
    assert SlaPolicy.objects.count() == 1
    assert Client().get("/desk/sla/").status_code == 302

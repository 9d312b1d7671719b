"""/api/v1/sla-policies/ (admins write, agents read) and /api/v1/tickets/{number}/sla/ (anyone
who may see the ticket, 404 for everyone else): the public contract of the issue."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.factories import make_ticket
from tickets import services
from tickets.calendar_models import Calendar
from tickets.models import Group, Ticket
from tickets.sla_models import SlaPolicy

pytestmark = pytest.mark.django_db

API = "/api/v1/sla-policies/"
POLICY = {
    "name": "Urgent billing",
    "position": 0,
    "conditions": {"priority": ["urgent"], "group": ["Billing"], "channel": ["email"]},
    "calendar": None,
    "targets": {
        "urgent": {"first_reply": 15, "next_reply": 30, "resolution": 120},
        "normal": {"first_reply": 60, "next_reply": 120, "resolution": 480},
    },
    "pause_on": ["pending", "on_hold"],
}


def api_for(user: Any | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


def at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_an_admin_creates_lists_changes_and_deletes_a_policy(
    admin_user: Any, billing: Group
) -> None:
    api = api_for(admin_user)
    response = api.post(API, POLICY, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert isinstance(body["id"], int)
    assert body["conditions"] == POLICY["conditions"]
    assert body["targets"] == POLICY["targets"]
    assert body["calendar"] is None and body["pause_on"] == ["on_hold", "pending"]
    assert api.get(API).json()["results"][0]["name"] == "Urgent billing"
    calendar = Calendar.objects.create(name="Office", timezone="UTC", hours={})
    patched = api.patch(f"{API}{body['id']}/", {"calendar": calendar.pk}, format="json")
    assert patched.status_code == 200 and patched.json()["calendar"] == calendar.pk
    assert patched.json()["targets"] == POLICY["targets"]
    assert api.delete(f"{API}{body['id']}/").status_code == 204
    assert not SlaPolicy.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"targets": {"critical": {"first_reply": 5}}}, "targets"),
        ({"targets": {"urgent": {"first_reply": 0}}}, "targets"),
        ({"conditions": {"group": "Billing"}}, "conditions"),
        ({"conditions": {"priority": ["soon"]}}, "conditions"),
        ({"pause_on": ["closed"]}, "pause_on"),
        ({"calendar": 424242}, "calendar"),
    ],
)
def test_bad_input_is_refused_with_the_field_named(
    admin_user: Any, billing: Group, change: dict[str, Any], field: str
) -> None:
    response = api_for(admin_user).post(API, {**POLICY, **change}, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not SlaPolicy.objects.exists()


def test_agents_read_policies_but_only_admins_write(
    agent: Any, supervisor: Any, customer: Any, billing: Group
) -> None:
    assert api_for(agent).post(API, POLICY, format="json").status_code == 403
    assert api_for(supervisor).post(API, POLICY, format="json").status_code == 403
    assert api_for(customer).get(API).status_code == 403
    assert api_for(None).get(API).status_code in (401, 403)
    assert api_for(agent).get(API).status_code == 200


def test_a_ticket_shows_its_targets(
    admin_user: Any, agent: Any, support: Group, customer_contact: Any
) -> None:
    api_for(admin_user).post(API, {**POLICY, "conditions": {}}, format="json")
    ticket = make_ticket(contact=customer_contact, group=support, priority=Ticket.Priority.URGENT)
    body = api_for(agent).get(f"/api/v1/tickets/{ticket.number}/sla/").json()
    assert body["policy"] == "Urgent billing"
    targets = {t["metric"]: t for t in body["targets"]}
    assert set(targets) == {"first_reply", "next_reply", "resolution"}
    # next reply only runs once a first reply went out (it never overrules the first reply)
    assert targets["next_reply"]["due_at"] is None
    assert at(targets["first_reply"]["due_at"]) == ticket.created_at + timedelta(minutes=15)
    assert targets["first_reply"]["completed_at"] is None
    assert targets["first_reply"]["breached"] is False
    assert targets["first_reply"]["breached_at"] is None
    reply = services.ticket_reply(ticket=ticket, author=agent, text="Looking")
    body = api_for(agent).get(f"/api/v1/tickets/{ticket.number}/sla/").json()
    first = next(t for t in body["targets"] if t["metric"] == "first_reply")
    assert at(first["completed_at"]) == reply.created_at


def test_a_breach_shows_with_its_exact_time(admin_user: Any, agent: Any, support: Group) -> None:
    api_for(admin_user).post(API, {**POLICY, "conditions": {}}, format="json")
    created = datetime.now().astimezone() - timedelta(hours=3)
    ticket = make_ticket(group=support, created_at=created, priority=Ticket.Priority.NORMAL)
    body = api_for(agent).get(f"/api/v1/tickets/{ticket.number}/sla/").json()
    first = next(t for t in body["targets"] if t["metric"] == "first_reply")
    assert first["breached"] is True
    assert at(first["breached_at"]) == created + timedelta(minutes=60) == at(first["due_at"])


def test_the_customer_sees_their_ticket_outsiders_get_404(
    admin_user: Any, customer: Any, customer_contact: Any, other_customer: Any,
    other_agent: Any, outsider: Any, support: Group,
) -> None:  # fmt: skip
    api_for(admin_user).post(API, {**POLICY, "conditions": {}}, format="json")
    ticket = make_ticket(contact=customer_contact, group=support)
    url = f"/api/v1/tickets/{ticket.number}/sla/"
    assert api_for(customer).get(url).status_code == 200
    for stranger in (other_customer, other_agent, outsider):
        assert api_for(stranger).get(url).status_code == 404
    assert api_for(customer).get("/api/v1/tickets/999999/sla/").status_code == 404


def test_a_ticket_no_policy_matches_has_no_targets(agent: Any, support: Group) -> None:
    ticket = make_ticket(group=support)
    body = api_for(agent).get(f"/api/v1/tickets/{ticket.number}/sla/").json()
    assert body == {"policy": None, "targets": []}


def test_a_solved_ticket_has_no_running_next_reply_clock(
    admin_user: Any, agent: Any, support: Group
) -> None:
    api_for(admin_user).post(API, {**POLICY, "conditions": {}}, format="json")
    ticket = make_ticket(group=support)
    services.ticket_reply(ticket=ticket, author=agent, text="Try this")
    services.ticket_set_status(ticket=ticket, status="open", actor=agent)
    url = f"/api/v1/tickets/{ticket.number}/sla/"
    services.ticket_set_status(ticket=ticket, status="solved", actor=agent)
    body = api_for(agent).get(url).json()
    by_metric = {t["metric"]: t for t in body["targets"]}
    assert by_metric["next_reply"]["due_at"] is None
    assert by_metric["resolution"]["completed_at"] is not None
    assert not any(t["breached"] for t in body["targets"])

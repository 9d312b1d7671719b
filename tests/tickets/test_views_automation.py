"""The desk's automation pages: admins only, the rule editor with rows, order and enable,
the dry run with a flat query count, and the Django admin's validation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.conftest import client_for
from tests.factories import make_ticket
from tickets.automation.models import AutomationRule
from tickets.models import Group, Ticket

pytestmark = pytest.mark.django_db


def make_rule(name: str, position: int, kind: str = "trigger", **kw: Any) -> AutomationRule:
    defaults: dict[str, Any] = {
        "events": ["ticket_created"] if kind == "trigger" else [],
        "conditions": [],
        "actions": [{"type": "add_tag", "value": "x"}],
    }
    if kind == "time":
        defaults["conditions"] = [
            {"field": "status", "op": "is", "value": "pending"},
            {"field": "hours_since_status", "op": "gte", "value": 72},
        ]
    return AutomationRule.objects.create(
        name=name, kind=kind, position=position, **{**defaults, **kw}
    )


@pytest.mark.parametrize("who", ["agent", "supervisor", "customer"])
def test_only_admins_reach_the_pages(request: pytest.FixtureRequest, who: str) -> None:
    rule = make_rule("R", 1)
    client = client_for(request.getfixturevalue(who))
    for url in (
        reverse("desk:automation"),
        reverse("desk:automation_new"),
        reverse("desk:automation_edit", args=[rule.pk]),
        reverse("desk:automation_dry_run", args=[rule.pk]),
    ):
        assert client.get(url).status_code == 403
    assert client.post(reverse("desk:automation_toggle", args=[rule.pk])).status_code == 403
    rule.refresh_from_db()
    assert rule.active


def test_anonymous_is_sent_to_login(client: Any) -> None:
    response = client.get(reverse("desk:automation"))
    assert response.status_code == 302 and "login" in response["Location"]


def test_list_shows_rules_in_order_and_toggles_and_moves(admin_user: Any) -> None:
    client = client_for(admin_user)
    a, b, c = make_rule("Alpha", 1), make_rule("Beta", 2), make_rule("Gamma", 3)
    make_rule("Wait", 1, kind="time")
    page = client.get(reverse("desk:automation")).content.decode()
    assert page.index("Alpha") < page.index("Beta") < page.index("Gamma") < page.index("Wait")
    client.post(reverse("desk:automation_move", args=[c.pk]), {"direction": "up"})
    names = list(
        AutomationRule.objects.filter(kind="trigger")
        .order_by("position")
        .values_list("name", flat=True)
    )
    assert names == ["Alpha", "Gamma", "Beta"]
    client.post(reverse("desk:automation_move", args=[a.pk]), {"direction": "up"})  # stays first
    assert AutomationRule.objects.filter(kind="trigger").order_by("position").first() == a
    client.post(reverse("desk:automation_toggle", args=[b.pk]))
    b.refresh_from_db()
    assert not b.active


def test_list_query_count_is_flat(admin_user: Any, django_assert_max_num_queries: Any) -> None:
    client = client_for(admin_user)
    for i in range(15):
        make_rule(f"R{i}", i)
    with django_assert_max_num_queries(8):
        assert client.get(reverse("desk:automation")).status_code == 200


def test_create_a_trigger_with_rows(admin_user: Any, support: Group) -> None:
    client = client_for(admin_user)
    page = client.get(reverse("desk:automation_new") + "?kind=trigger").content.decode()
    assert 'name="cond-0-field"' in page and 'name="act-0-type"' in page
    assert "js/automation.js" in page and "<script>" not in page
    response = client.post(
        reverse("desk:automation_new") + "?kind=trigger",
        {
            "name": "VIP urgent",
            "events": ["ticket_created", "customer_replied"],
            "match": "all",
            "active": "on",
            "stop": "on",
            "cond-0-field": "tags",
            "cond-0-op": "includes",
            "cond-0-value": "vip, gold",
            "cond-3-field": "group",
            "cond-3-op": "is",
            "cond-3-value": str(support.pk),
            "cond-4-field": "",  # the spare row, left empty
            "act-0-type": "set_priority",
            "act-0-value": "4",
            "act-1-type": "webhook",
            "act-1-url": "https://hooks.example.test/vip",
            "act-1-secret": "s" * 24,
            "act-2-type": "",
        },
    )
    assert response.status_code == 302
    rule = AutomationRule.objects.get(name="VIP urgent")
    assert rule.kind == "trigger" and rule.stop and rule.active
    assert rule.events == ["ticket_created", "customer_replied"]
    assert rule.conditions == [
        {"field": "tags", "op": "includes", "value": ["gold", "vip"]},
        {"field": "group", "op": "is", "value": support.pk},
    ]
    assert rule.actions == [
        {"type": "set_priority", "value": 4},
        {"type": "webhook", "url": "https://hooks.example.test/vip", "secret": "s" * 24},
    ]
    edit = client.get(reverse("desk:automation_edit", args=[rule.pk])).content.decode()
    assert 'value="gold, vip"' in edit and 'name="cond-2-field"' in edit  # the spare row


def test_a_bad_rule_is_shown_with_its_reason_and_nothing_saved(admin_user: Any) -> None:
    client = client_for(admin_user)
    response = client.post(
        reverse("desk:automation_new") + "?kind=trigger",
        {
            "name": "Broken",
            "events": ["ticket_created"],
            "match": "all",
            "cond-0-field": "priority",
            "cond-0-op": "is",
            "cond-0-value": "very",
            "act-0-type": "add_tag",
            "act-0-value": "x",
        },
    )
    assert response.status_code == 400
    assert "whole number" in response.content.decode()
    assert 'value="very"' in response.content.decode()  # what was typed is kept
    assert not AutomationRule.objects.exists()


def test_create_a_time_automation(admin_user: Any) -> None:
    client = client_for(admin_user)
    response = client.post(
        reverse("desk:automation_new") + "?kind=time",
        {
            "name": "Close solved",
            "match": "all",
            "active": "on",
            "cond-0-field": "status",
            "cond-0-op": "is",
            "cond-0-value": "solved",
            "cond-1-field": "hours_since_status",
            "cond-1-op": "gte",
            "cond-1-value": "96",
            "act-0-type": "set_status",
            "act-0-value": "closed",
        },
    )
    assert response.status_code == 302
    rule = AutomationRule.objects.get(name="Close solved")
    assert rule.kind == "time" and rule.events == []


def test_dry_run_page_lists_due_tickets(
    admin_user: Any, support: Group, django_assert_max_num_queries: Any
) -> None:
    rule = make_rule("Remind", 1, kind="time")
    due = [make_ticket(group=support, subject=f"Waiting {i}") for i in range(6)]
    young = make_ticket(group=support, subject="Just now")
    Ticket.objects.filter(pk__in=[t.pk for t in due]).update(
        status="pending", status_changed_at=timezone.now() - timedelta(days=4)
    )
    Ticket.objects.filter(pk=young.pk).update(status="pending")
    client = client_for(admin_user)
    with django_assert_max_num_queries(10):
        page = client.get(reverse("desk:automation_dry_run", args=[rule.pk])).content.decode()
    assert all(f"Waiting {i}" in page for i in range(6)) and "Just now" not in page
    assert Ticket.objects.filter(status="pending").count() == 7  # nothing changed


def test_django_admin_validates_rules(admin_user: Any) -> None:
    admin_user.is_staff = True
    admin_user.is_superuser = True
    admin_user.save()
    client = client_for(admin_user)
    url = reverse("admin:tickets_automationrule_add")
    base = {
        "name": "Admin rule",
        "kind": "trigger",
        "position": "1",
        "active": "on",
        "events": '["ticket_created"]',
        "match": "all",
        "conditions": "[]",
        "actions": '[{"type": "explode"}]',
    }
    response = client.post(url, base)
    assert response.status_code == 200 and "unknown action" in response.content.decode()
    response = client.post(url, {**base, "actions": '[{"type": "add_tag", "value": "A b"}]'})
    assert response.status_code == 302
    assert AutomationRule.objects.get(name="Admin rule").actions == [
        {"type": "add_tag", "value": "a-b"}
    ]

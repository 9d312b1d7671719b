"""An admin writes a trigger in the desk: picks its event, a condition row (the operator list
follows the field), two action rows (the second added by the script), saves, and the dry run
lists the ticket it would touch."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import login
from tests.factories import make_ticket
from tickets.automation import engine
from tickets.automation.models import AutomationRule

pytestmark = pytest.mark.e2e


def test_an_admin_creates_a_trigger_in_the_desk(
    page: Any, live_server: Any, admin_user: Any, support: Any
) -> None:
    login(page, live_server.url, admin_user.email)
    page.get_by_role("link", name="Automation").click()
    expect(page.get_by_role("heading", level=1, name="Automation")).to_be_visible()
    page.get_by_role("link", name="New trigger").click()

    page.get_by_label("Name").fill("Refunds to billing")
    page.get_by_label("Ticket created").check()
    condition = page.locator("[data-rows='cond'] [data-row]").first
    condition.get_by_label("Field", exact=True).select_option("subject")
    # the subject offers only text operators
    expect(condition.locator("[data-cond-op] option[value='gte']")).to_be_disabled()
    condition.get_by_label("Operator").select_option("contains")
    condition.get_by_label("Value", exact=True).fill("refund")

    first_action = page.locator("[data-rows='act'] [data-row]").first
    first_action.get_by_label("Action", exact=True).select_option("add_tag")
    expect(first_action.get_by_label("Webhook URL")).to_be_hidden()
    first_action.get_by_label("Value", exact=True).fill("refund")
    page.get_by_role("button", name="Add an action").click()
    second_action = page.locator("[data-rows='act'] [data-row]").nth(1)
    expect(second_action.get_by_label("Action", exact=True)).to_be_focused()
    second_action.get_by_label("Action", exact=True).select_option("add_note")
    second_action.get_by_label("Value", exact=True).fill("Refund asked on #{{ ticket.number }}")
    page.get_by_role("button", name="Save rule").click()

    expect(page.get_by_text("Rule “Refunds to billing” saved.")).to_be_visible()
    rule = AutomationRule.objects.get(name="Refunds to billing")
    assert rule.events == ["ticket_created"]
    assert rule.conditions == [{"field": "subject", "op": "contains", "value": "refund"}]
    assert [a["type"] for a in rule.actions] == ["add_tag", "add_note"]

    ticket = make_ticket(group=support, subject="Refund for order 7")
    make_ticket(group=support, subject="Password reset")
    page.get_by_role("link", name="Dry run: which tickets would it touch now?").click()
    rows = page.locator("#dry-run tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Refund for order 7")

    engine.triggers_run(event_id=ticket.events.get(kind="created").pk)
    assert list(ticket.tags.values_list("name", flat=True)) == ["refund"]
    assert ticket.messages.filter(kind="note", text=f"Refund asked on #{ticket.number}").exists()

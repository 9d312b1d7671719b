"""An agent watches a ticket's first-reply countdown run out in the queue, without reloading,
and after the breach sweep sees the breach on the ticket page."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.e2e.conftest import login
from tests.factories import ContactFactory, make_ticket
from tickets import sla_events
from tickets.models import TicketEvent
from tickets.sla_models import SlaPolicy
from tickets.sla_services import sla_sweep

pytestmark = pytest.mark.e2e


def test_an_agent_sees_a_countdown_turn_into_a_breach(
    page: Any, live_server: Any, agent: Any, support: Any, artifacts: Path
) -> None:
    SlaPolicy.objects.create(
        name="One minute", targets={"normal": {"first_reply": 1, "resolution": 600}}
    )
    # the ticket arrived 52 seconds ago: 8 seconds of its one-minute first-reply target remain
    ticket = make_ticket(
        group=support,
        contact=ContactFactory(name="Hasty Customer"),
        subject="Checkout button does nothing",
        created_at=timezone.now() - timedelta(seconds=52),
    )
    ticket.refresh_from_db()
    assert ticket.first_reply_due_at == ticket.created_at + timedelta(minutes=1)

    login(page, live_server.url, agent.email)
    page.goto(f"{live_server.url}/desk/?sort=due")
    row = page.locator(".ticket-row", has_text=ticket.subject)
    badge = row.locator(".sla-badge")
    expect(badge).to_have_text(re.compile(r"^\d+s left$"))
    expect(badge).not_to_have_class(re.compile("sla-overdue"))
    page.screenshot(path=str(artifacts / "sla-countdown.png"), full_page=True)

    # no reload: the page's clock turns the badge into a breach when the due instant passes
    expect(badge).to_have_text(re.compile(r"^overdue by \d+s$"), timeout=20_000)
    expect(badge).to_have_class(re.compile("sla-overdue"))
    page.screenshot(path=str(artifacts / "sla-overdue.png"), full_page=True)

    # the beat's sweep records the breach, once, at the due instant
    assert sla_sweep() == 1
    assert sla_sweep() == 0
    breach = TicketEvent.objects.get(ticket=ticket, kind=sla_events.BREACHED)
    assert breach.occurred_at == ticket.first_reply_due_at

    page.goto(f"{live_server.url}/desk/tickets/{ticket.number}/")
    card = page.locator("#sla-card")
    first = card.locator(".sla-target[data-metric='first_reply']")
    expect(first.locator(".sla-badge")).to_have_text(re.compile(r"^overdue by"))
    expect(card.locator(".sla-target[data-metric='resolution'] .sla-badge")).to_have_text(
        re.compile(r"left$")
    )
    expect(page.locator("#ticket-activity")).to_contain_text("SLA first reply breached")

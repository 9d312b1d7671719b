"""An agent selects tickets with shift-click and changes them all at once, watching progress."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import login
from tests.factories import ContactFactory, make_ticket
from tickets.models import BulkJob, Ticket, TicketEvent

pytestmark = pytest.mark.e2e


def test_it_changes_the_status_of_a_shift_selected_range(
    page: Any, live_server: Any, live_worker: Any, agent: Any, support: Any, artifacts: Path
) -> None:
    contact = ContactFactory(name="Many Tickets")
    tickets = [
        make_ticket(group=support, contact=contact, subject=f"Bulk ticket {n:02d}")
        for n in range(40)
    ]
    newest_first = list(reversed(tickets))

    login(page, live_server.url, agent.email)
    page.wait_for_load_state("load")
    expect(page.locator("#bulk-count")).to_have_text("No tickets selected")
    expect(page.locator("#bulk-apply")).to_be_disabled()

    first = page.get_by_label(f"Select ticket #{newest_first[0].number}")
    last = page.get_by_label(f"Select ticket #{newest_first[29].number}")
    first.click()
    last.click(modifiers=["Shift"])
    expect(page.locator("#bulk-count")).to_have_text("30 tickets selected")
    expect(page.locator(".bulk-check:checked")).to_have_count(30)
    expect(page.get_by_label(f"Select ticket #{newest_first[30].number}")).not_to_be_checked()

    page.locator("#bulk-action").select_option("status")
    expect(page.locator('#bulk-form select[name="priority"]')).to_be_hidden()
    page.locator('#bulk-form select[name="status"]').select_option("pending")
    page.screenshot(path=str(artifacts / "bulk-selected.png"), full_page=True)
    page.get_by_role("button", name="Apply to selected").click()

    progress = page.locator("#bulk-progress")
    expect(progress).to_contain_text("Set status")
    expect(progress).to_contain_text("30 of 30 tickets", timeout=30_000)
    expect(progress).to_contain_text("Finished")
    expect(progress.locator("progress")).to_have_attribute("value", "30")
    page.screenshot(path=str(artifacts / "bulk-finished.png"), full_page=True)

    # The queue refreshed itself: the changed tickets left the default (unsolved) view as
    # pending ones stay, and the selection was cleared.
    expect(page.locator("#bulk-count")).to_have_text("No tickets selected")
    row = page.locator(f'.ticket-row[data-number="{newest_first[0].number}"]')
    expect(row).to_contain_text(re.compile("Pending"))

    job = BulkJob.objects.get()
    assert (job.total, job.done, job.failed, job.state) == (30, 30, 0, "finished")
    changed = {t.pk for t in newest_first[:30]}
    assert set(Ticket.objects.filter(status="pending").values_list("pk", flat=True)) == changed
    assert TicketEvent.objects.filter(kind="status", actor=agent).count() == 30

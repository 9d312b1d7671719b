"""An agent finds a ticket by a word from its message body, and saves the search as a view."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import login
from tests.factories import ContactFactory, make_ticket
from tickets.models import SavedView

pytestmark = pytest.mark.e2e


def test_an_agent_finds_a_ticket_by_a_word_of_its_message(
    page: Any, live_server: Any, agent: Any, support: Any, billing: Any, artifacts: Path
) -> None:
    wanted = make_ticket(
        group=support,
        contact=ContactFactory(name="Marta Quint", email="marta@example.com"),
        subject="Order never arrived",
        text="The parcel with the blue thermos was returned to the depot in Oslo.",
    )
    make_ticket(group=support, subject="Password reset", text="No mail came.")
    make_ticket(group=billing, subject="Other team", text="The thermos invoice is wrong.")

    login(page, live_server.url, agent.email)
    expect(page).to_have_url(re.compile(r"/desk/$"))
    search = page.locator("#queue-search")
    search.fill("thermos")
    search.press("Enter")

    row = page.locator(f'.ticket-row[data-number="{wanted.number}"]')
    expect(row).to_be_visible()
    expect(row.locator(".search-snippet mark")).to_have_text(re.compile("thermos", re.I))
    expect(page.locator(".ticket-row")).to_have_count(1)  # not the other team's ticket
    expect(page).to_have_url(re.compile(r"q=thermos"))
    page.screenshot(path=str(artifacts / "search.png"), full_page=True)

    # an operator the desk does not know is explained, not a server error
    search.fill("thermos colour:blue")
    search.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("Unknown operator")

    # save the search as a view: it appears in the sidebar with its count
    search.fill("thermos status:new")
    search.press("Enter")
    expect(row).to_be_visible()
    page.locator("#save-view summary").click()
    page.locator("#save-view-name").fill("Thermos trouble")
    page.get_by_role("button", name="Save view").click()
    link = page.locator("#saved-views a", has_text="Thermos trouble")
    expect(link).to_be_visible()
    expect(link.locator(".view-count")).to_have_text("1")
    assert SavedView.objects.get(name="Thermos trouble").filters == {"q": "thermos status:new"}

    row.get_by_role("link").first.click()
    expect(page.get_by_role("heading", level=1, name=wanted.subject)).to_be_visible()

"""Two agents on one ticket, each in their own browser: they see each other, and typing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.conftest import login
from tests.factories import ContactFactory, make_agent, make_ticket


def _name(user: Any, first: str, last: str) -> None:
    user.first_name, user.last_name = first, last
    user.save(update_fields=["first_name", "last_name"])


def test_two_agents_on_one_ticket_see_each_other(
    browser: Any, asgi_server: str, agent: Any, support: Any, artifacts: Path
) -> None:
    colleague = make_agent("cleo", groups=[support])
    _name(agent, "Ada", "Lovelace")
    _name(colleague, "Cleo", "Park")
    ticket = make_ticket(group=support, contact=ContactFactory(name="Pat Caller"), subject="Both")
    url = f"{asgi_server}/desk/tickets/{ticket.number}/"

    first = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB")
    second = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB")
    try:
        ada, cleo = first.new_page(), second.new_page()
        for page in (ada, cleo):
            page.set_default_timeout(10_000)
        login(ada, asgi_server, agent.email)
        login(cleo, asgi_server, colleague.email)
        ada.goto(url)
        cleo.goto(url)

        ada_sees = ada.locator("#ticket-presence [data-presence-user]")
        cleo_sees = cleo.locator("#ticket-presence [data-presence-user]")
        ada_sees.first.wait_for()
        assert ada_sees.count() == 1 and ada_sees.first.inner_text() == "CP\nCleo Park is viewing"
        cleo_sees.first.wait_for()
        assert cleo_sees.first.get_attribute("title") == "Ada Lovelace is viewing"

        cleo.get_by_role("tab", name="Internal note").click()
        cleo.locator("#note-text").press_sequentially("Looking into it")
        ada.locator("#ticket-presence .typing-note").wait_for()
        assert "Cleo Park is writing a note" in ada.locator("[data-presence-status]").inner_text()
        ada.screenshot(path=str(artifacts / "presence-1280.png"))
        ada.locator("#reply-text").fill("Hello")
        cleo.locator("#ticket-presence .typing-reply").wait_for()
        cleo.screenshot(path=str(artifacts / "presence-390.png"))

        cleo.close()  # the tab goes: Ada's header empties
        ada.locator("#ticket-presence").wait_for(state="hidden")
    finally:
        first.close()
        second.close()


def test_a_mention_picked_from_the_list_rings_the_colleagues_bell(
    browser: Any, asgi_server: str, agent: Any, support: Any, artifacts: Path
) -> None:
    colleague = make_agent("cleo", groups=[support])
    _name(agent, "Ada", "Lovelace")
    _name(colleague, "Cleo", "Park")
    ticket = make_ticket(group=support, contact=ContactFactory(name="Pat Caller"), subject="Ping")
    url = f"{asgi_server}/desk/tickets/{ticket.number}/"

    first = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB")
    second = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB")
    try:
        ada, cleo = first.new_page(), second.new_page()
        for page in (ada, cleo):
            page.set_default_timeout(10_000)
        login(ada, asgi_server, agent.email)
        login(cleo, asgi_server, colleague.email)
        cleo.goto(f"{asgi_server}/desk/")
        cleo.locator("#live-status[data-state=live]").wait_for()
        badge = cleo.locator("#bell-count[data-unread]")
        badge.wait_for()  # the new ticket in her group already counts
        before = int(badge.get_attribute("data-unread") or "0")

        ada.goto(url)
        ada.get_by_role("tab", name="Internal note").click()
        note = ada.locator("#note-text")
        note.press_sequentially("Over to you @cl")
        option = ada.get_by_role("option", name="@cleo Cleo Park")
        option.wait_for()
        note.press("Enter")
        assert note.input_value() == "Over to you @cleo "
        note.press_sequentially("please check")
        ada.get_by_role("button", name="Add note").click()
        ada.locator(".msg-note", has_text="please check").wait_for()

        # her bell rings live: the count goes up without a reload
        cleo.wait_for_function(
            "n => Number(document.getElementById('bell-count').dataset.unread) === n",
            arg=before + 1,
        )
        ada.locator("#bell > summary").click()
        ada.locator("#bell-list").wait_for()
        ada.screenshot(path=str(artifacts / "bell-empty-1280.png"))
        cleo.locator("#bell > summary").click()
        item = cleo.locator(".bell-item.is-unread", has_text="mentioned you")
        item.wait_for()
        cleo.screenshot(path=str(artifacts / "bell-390.png"))

        second_wide = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB")
        try:
            wide = second_wide.new_page()
            wide.set_default_timeout(10_000)
            login(wide, asgi_server, colleague.email)
            wide.locator("#bell > summary").click()
            wide.locator(".bell-item", has_text="mentioned you").wait_for()
            wide.screenshot(path=str(artifacts / "bell-1280.png"))
        finally:
            second_wide.close()

        item.locator("button").click()
        cleo.wait_for_url(url)
        cleo.locator("#bell-count[data-unread]").wait_for(state="attached")
        assert cleo.locator("#bell-count").get_attribute("data-unread") == str(before)
    finally:
        first.close()
        second.close()

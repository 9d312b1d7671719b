"""What an agent does in a real browser: sign in, find the ticket, answer it, watch the queue."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from playwright.sync_api import expect

from tests.e2e.conftest import login
from tests.factories import ContactFactory, make_ticket
from tickets import services
from tickets.models import Macro, Message, Ticket
from tickets.types import IncomingMessage

pytestmark = pytest.mark.e2e


def _demo_ticket(group: Any, agent: Any) -> Ticket:
    contact = ContactFactory(name="Alice Example", email="alice@example.com")
    text = (
        "Hello,\n\nour last invoice (INV-2041) shows an old VAT number. Could you fix it?"
        "\n\nThanks,\nAlice\n\n> On Monday you wrote:\n> Your invoice is attached."
    )
    ticket = make_ticket(
        group=group, contact=contact, subject="Invoice shows the wrong VAT number", text=text
    )
    Message.objects.filter(ticket=ticket).update(
        metadata={"quoted_text_start": text.index("> On Monday")}
    )
    services.ticket_set_tags(ticket=ticket, names=["billing", "vat"], actor=agent)
    services.ticket_note(ticket=ticket, author=agent, text="Finance changed the VAT id last week.")
    Macro.objects.create(
        name="Invoice corrected",
        body="We have corrected your invoice.",
        set_status="solved",
        add_tags="invoice-fixed",
    )
    for subject in ["Password reset mail never arrives", "Export to CSV times out"]:
        make_ticket(group=group, contact=ContactFactory(), subject=subject)
    return ticket


def test_it_lets_an_agent_answer_a_ticket(
    page: Any, live_server: Any, agent: Any, support: Any, artifacts: Path
) -> None:
    ticket = _demo_ticket(support, agent)

    login(page, live_server.url, agent.email, screenshot=artifacts / "login.png")
    expect(page).to_have_url(re.compile(r"/desk/$"))
    row_link = page.get_by_role("link", name=ticket.subject)
    expect(row_link).to_be_visible()
    page.screenshot(path=str(artifacts / "queue.png"), full_page=True)

    # Keyboard only: "/" searches, j/k move through the rows, Enter opens the selected one.
    page.wait_for_load_state("load")
    page.keyboard.press("/")
    expect(page.locator("#queue-search")).to_be_focused()
    page.keyboard.press("Escape")
    for key in ["j", "j", "j", "k", "j"]:
        page.keyboard.press(key)
    expect(page.locator(f'.ticket-row[data-number="{ticket.number}"]')).to_have_class(
        re.compile("is-selected")
    )
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1, name=ticket.subject)).to_be_visible()
    page.wait_for_load_state("load")  # keyboard shortcuts live in deferred scripts
    page.keyboard.press("r")
    expect(page.locator("#reply-text")).to_be_focused()
    page.keyboard.type("Hi Alice, we have corrected the VAT number and re-sent the invoice.")
    page.get_by_text("Activity").click()
    page.screenshot(path=str(artifacts / "ticket.png"), full_page=True)
    page.get_by_role("button", name=re.compile("Send reply")).click()

    reply = page.locator("#thread .msg-reply")
    expect(reply).to_contain_text("we have corrected the VAT number")
    expect(page.locator("#reply-text")).to_have_value("")
    expect(page.locator("#field-status")).to_have_value("pending")

    page.get_by_label("Priority", exact=True).select_option(label="Urgent")
    expect(page.locator("#ticket-header")).to_contain_text("Urgent priority")

    message = Message.objects.get(ticket=ticket, kind=Message.Kind.REPLY)
    assert message.author_user_id == agent.pk
    assert message.deliveries.count() == 1

    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(artifacts / "ticket-mobile.png"), full_page=True)
    page.get_by_role("link", name="Back to queue").click()
    expect(page.get_by_role("link", name=ticket.subject)).to_be_visible()
    page.screenshot(path=str(artifacts / "queue-mobile.png"), full_page=True)


def test_it_shows_a_customer_their_requests(
    page: Any, live_server: Any, customer: Any, agent: Any, support: Any, artifacts: Path
) -> None:
    ticket = make_ticket(
        contact=customer.contact,
        group=support,
        subject="Order 1042 arrived damaged",
        text="The box was crushed and the mug is broken.",
    )
    services.ticket_note(ticket=ticket, author=agent, text="Internal: refund approved")
    services.ticket_reply(
        ticket=ticket, author=agent, text="Sorry about that! A new mug is on its way."
    )
    make_ticket(contact=customer.contact, subject="Change my delivery address")

    login(page, live_server.url, customer.email)
    expect(page).to_have_url(re.compile(r"/portal/$"))
    expect(page.get_by_role("link", name="Order 1042 arrived damaged")).to_be_visible()
    page.screenshot(path=str(artifacts / "portal.png"), full_page=True)

    page.get_by_role("link", name="Order 1042 arrived damaged").click()
    expect(page.locator("#thread")).to_contain_text("A new mug is on its way")
    expect(page.locator("#thread")).not_to_contain_text("refund approved")
    page.get_by_label("Your reply").fill("Thank you!")
    page.get_by_role("button", name="Send reply").click()
    expect(page.locator("#thread")).to_contain_text("Thank you!")
    page.screenshot(path=str(artifacts / "portal-ticket.png"), full_page=True)

    page.get_by_role("link", name="New request").first.click()
    page.get_by_label("Subject").fill("Invoice address")
    page.get_by_label("How can we help?").fill("Please use our new address from May on.")
    page.screenshot(path=str(artifacts / "portal-new.png"), full_page=True)
    page.get_by_role("button", name="Submit request").click()
    expect(page.get_by_role("heading", level=1, name="Invoice address")).to_be_visible()
    assert Ticket.objects.filter(subject="Invoice address", contact=customer.contact).exists()


def test_it_updates_the_queue_live_when_a_ticket_arrives(
    page: Any, asgi_server: str, agent: Any, support: Any, artifacts: Path
) -> None:
    make_ticket(group=support, subject="Already here")
    login(page, asgi_server, agent.email)
    expect(page.get_by_role("link", name="Already here")).to_be_visible()
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")

    # Created from another thread: Playwright's loop in this one would stop the live event.
    created: list[Ticket] = []

    def arrive() -> None:
        try:
            created.append(make_ticket(group=support, subject="Arrived while you watched"))
        finally:
            connection.close()

    worker = threading.Thread(target=arrive)
    worker.start()
    worker.join(timeout=20)
    assert created, "the ticket was not created"

    expect(page.get_by_role("link", name="Arrived while you watched")).to_be_visible()
    expect(page.locator("#queue-views [data-count-for='all']")).to_have_text("2")
    page.screenshot(path=str(artifacts / "queue-live.png"), full_page=True)

    # On the ticket page, the customer's next message shows up in the thread by itself.
    page.get_by_role("link", name="Arrived while you watched").click()
    expect(page.get_by_role("heading", level=1, name="Arrived while you watched")).to_be_visible()
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    ticket = created[0]
    email = ticket.contact.identities.get().value

    def follow_up() -> None:
        try:
            services.message_ingest(
                incoming=IncomingMessage(
                    channel="email",
                    identity_kind="email",
                    identity_value=email,
                    target_ticket_id=ticket.pk,
                    text="Any news on this?",
                )
            )
        finally:
            connection.close()

    worker = threading.Thread(target=follow_up)
    worker.start()
    worker.join(timeout=20)
    expect(page.locator("#thread")).to_contain_text("Any news on this?")


def test_it_lets_an_agent_answer_on_another_channel_and_merge_a_duplicate_contact(
    page: Any, live_server: Any, agent: Any, supervisor: Any, support: Any, artifacts: Path
) -> None:
    from tickets.models import Identity

    alice = ContactFactory(name="Alice Example", email="alice@example.com")
    services.identity_add(contact=alice, kind=Identity.Kind.WHATSAPP, value="+447700900123")
    ticket = make_ticket(
        group=support,
        contact=alice,
        subject="Parcel stuck in customs",
        text="My parcel has been in customs for a week. Can you help?",
    )
    services.call_log(
        ticket=ticket,
        agent=agent,
        direction="outbound",
        duration_seconds=240,
        notes="Customs need the invoice; she will send it by WhatsApp.",
    )
    chat = make_ticket(
        group=support,
        contact=alice,
        subject="Quick question",
        text="Do you ship to Norway?",
        channel="chat",
    )
    services.ticket_reply(ticket=chat, author=agent, text="Yes, we do!")
    duplicate = ContactFactory(name="A. Example", email="alice.home@example.net")
    make_ticket(group=support, contact=duplicate, subject="Second account?")

    login(page, live_server.url, agent.email)
    page.goto(f"{live_server.url}/desk/tickets/{ticket.number}/")
    page.wait_for_load_state("load")
    send_by = page.get_by_label("Send by")
    expect(send_by).to_have_value("email")
    expect(page.locator("#thread")).to_contain_text("📞 Outbound call, 4 min")
    send_by.select_option("whatsapp")
    page.locator("#reply-text").fill("Hi Alice, please send the invoice here on WhatsApp.")
    page.screenshot(path=str(artifacts / "ticket-send-by.png"), full_page=True)
    page.get_by_role("button", name=re.compile("Send reply")).click()
    expect(page.locator("#thread .msg-reply")).to_contain_text("via WhatsApp")
    expect(send_by).to_have_value("email")  # the composer resets to the ticket's channel
    assert Message.objects.get(ticket=ticket, kind=Message.Kind.REPLY).channel == "whatsapp"

    page.get_by_role("link", name="View timeline").click()
    expect(page.get_by_role("heading", level=1, name="Alice Example")).to_be_visible()
    expect(page.locator(".tl-item").first).to_contain_text("please send the invoice")
    expect(page.locator(".timeline-list")).to_contain_text("Do you ship to Norway?")
    page.screenshot(path=str(artifacts / "contact-agent.png"), full_page=True)

    page.context.clear_cookies()
    login(page, live_server.url, supervisor.email)
    page.goto(f"{live_server.url}/desk/contacts/{alice.pk}/")
    page.wait_for_load_state("load")
    page.get_by_text("Merge contacts").click()
    page.get_by_label("Find by name, email or phone").press_sequentially("alice.home", delay=30)
    pick = page.locator("#merge-results .merge-pick", has_text="A. Example")
    expect(pick).to_be_visible()
    page.screenshot(path=str(artifacts / "contact.png"), full_page=True)
    pick.click()
    expect(page.get_by_role("heading", level=1, name="Merge contacts")).to_be_visible()
    page.screenshot(path=str(artifacts / "contact-merge.png"), full_page=True)
    page.get_by_role("button", name="Merge A. Example into Alice Example").click()
    expect(page.locator("#messages")).to_contain_text("A. Example was merged into Alice Example.")
    expect(page.locator("#contact-details")).to_contain_text("alice.home@example.net")
    expect(page.locator(".timeline-list")).to_contain_text("Second account?")


def test_it_loads_an_emails_remote_images_only_when_the_agent_asks(
    page: Any, asgi_server: str, agent: Any, support: Any, artifacts: Path
) -> None:
    from channels_in.email.parser import sanitize_html

    # "remote" here is this machine's server: the test may only talk to loopback
    image_url = f"{asgi_server}/static/img/favicon.svg?pixel=1"
    ticket = make_ticket(group=support, contact=ContactFactory(), subject="Newsletter reply")
    Message.objects.filter(ticket=ticket).update(
        html=sanitize_html(f'<p>See the chart:</p><img src="{image_url}" alt="chart" width="32">')
    )
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))

    login(page, asgi_server, agent.email)
    page.goto(f"{asgi_server}/desk/tickets/{ticket.number}/")
    notice = page.get_by_text("Remote images are blocked")
    expect(notice).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert image_url not in asked

    page.get_by_role("button", name="Show remote images").click()
    chart = page.get_by_alt_text("chart")
    expect(chart).to_have_attribute("src", image_url)
    page.wait_for_function("() => document.querySelector('img[alt=chart]').naturalWidth > 0")
    assert image_url in asked
    expect(notice).to_have_count(0)
    page.screenshot(path=str(artifacts / "remote-images.png"))


def test_the_queue_and_a_ticket_fit_a_390px_phone_without_sideways_scroll(
    page: Any, live_server: Any, agent: Any, support: Any, artifacts: Path
) -> None:
    ticket = _demo_ticket(support, agent)
    for n in range(8):
        make_ticket(
            group=support,
            contact=ContactFactory(name=f"Customer With A Rather Long Name {n}"),
            subject=f"A long subject line that would push a table wide on a phone, number {n}",
        )
    page.set_viewport_size({"width": 390, "height": 844})
    login(page, live_server.url, agent.email)
    row = page.locator(f'.ticket-row[data-number="{ticket.number}"]')
    expect(row).to_be_visible()
    page.screenshot(path=str(artifacts / "queue-phone.png"), full_page=True)

    def sideways() -> int:
        return int(
            page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
        )

    assert sideways() == 0
    # each row is a card the width of the screen, its subject wrapped, its number showing
    box = row.bounding_box()
    assert box is not None and box["width"] <= 390
    expect(row.locator(".col-number")).to_be_visible()
    expect(row.locator(".col-updated")).to_be_visible()

    row.get_by_role("link", name=ticket.subject).click()
    expect(page.get_by_role("heading", level=1, name=ticket.subject)).to_be_visible()
    page.screenshot(path=str(artifacts / "ticket-phone.png"), full_page=True)
    assert sideways() == 0
    expect(page.get_by_role("button", name="Apply changes")).to_be_in_viewport()

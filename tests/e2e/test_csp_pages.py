"""Every kind of page, opened in a real browser by the people who use it: the autouse hook in
conftest fails this test on any Content-Security-Policy violation (a blocked inline script,
handler, style, eval or foreign image)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import login
from tests.factories import ContactFactory, make_ticket

pytestmark = pytest.mark.e2e


def visit(page: Any, url: str) -> None:
    response = page.goto(url)
    assert response is not None and response.status == 200, url
    page.wait_for_load_state("networkidle")


def test_every_page_loads_without_a_policy_violation(
    browser: Any,
    live_server: Any,
    agent: Any,
    admin_user: Any,
    customer: Any,
    customer_contact: Any,
    support: Any,
) -> None:
    base = live_server.url
    ticket = make_ticket(group=support, contact=customer_contact, subject="Where is my parcel?")
    other = make_ticket(group=support, contact=ContactFactory(), subject="Invoice copy")
    seen: list[str] = []
    for user, urls in (
        (
            customer,
            [
                "/portal/",
                f"/portal/tickets/{ticket.number}/",
                "/portal/new/",
                "/accounts/email/",
                "/accounts/password/change/",
            ],
        ),
        (
            agent,
            [
                "/desk/",
                "/desk/?status=open",
                f"/desk/tickets/{ticket.number}/",
                f"/desk/tickets/{other.number}/",
                f"/desk/contacts/{customer_contact.pk}/",
                "/channels/chat/inbox/",
            ],
        ),
        (admin_user, ["/channels/email/accounts/", "/channels/email/accounts/new/", "/admin/"]),
        (None, ["/accounts/login/", "/accounts/signup/", "/accounts/password/reset/"]),
    ):
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.set_default_timeout(10_000)
        page = context.new_page()
        try:
            if user is not None:
                login(page, base, user.email)
            for url in urls:
                visit(page, base + url)
                seen.append(url)
            if user is agent:
                # the desk's keyboard help dialog and the ticket's tabs: script-driven UI
                visit(page, f"{base}/desk/tickets/{ticket.number}/")
                page.get_by_role("tab", name="Internal note").click()
                page.keyboard.press("Escape")
        finally:
            context.close()
    assert len(seen) == 17


def test_the_hook_sees_what_the_policy_blocks(page: Any, live_server: Any) -> None:
    """The watch itself works: an injected inline script, inline handler and foreign image are
    blocked by the page's policy, and each is reported (then cleared, so this test passes)."""
    from tests.e2e.conftest import CSP_VIOLATIONS

    visit(page, f"{live_server.url}/accounts/login/")
    page.evaluate(
        """() => {
          const s = document.createElement("script");
          s.textContent = "window.ranInline = true";
          document.body.appendChild(s);
          const d = document.createElement("div");
          d.setAttribute("onclick", "window.ranHandler = true");
          document.body.appendChild(d);
          d.click();
          const img = document.createElement("img");
          img.src = "http://127.0.0.1:9/pixel.png";
          document.body.appendChild(img);
        }"""
    )
    page.wait_for_function("() => true")
    page.wait_for_timeout(300)
    assert page.evaluate("() => [window.ranInline, window.ranHandler]") == [None, None]
    found = "\n".join(CSP_VIOLATIONS)
    CSP_VIOLATIONS.clear()
    assert "script-src-elem blocked inline" in found
    assert "script-src-attr blocked inline" in found
    assert "img-src blocked http://127.0.0.1:9/pixel.png" in found


PNG_2X2 = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x02\x00\x00\x00\x02\x08\x02\x00\x00\x00"
    b"\xfd\xd4\x9as\x00\x00\x00\x16IDATx\x9cc\xf8\xcf\xc0\xf0\x9f\x81\x81\x81\xe1?\x03\x03"
    b"\x03\x00\x1e\xf6\x04\x7f\xb5\xa3\x8a\x0e\x00\x00\x00\x00IEND\xaeB`\x82"
)


def test_an_emails_inline_image_shows_on_the_desk_and_in_the_portal(
    browser: Any, live_server: Any, agent: Any, customer: Any, customer_contact: Any, support: Any
) -> None:
    """A cid: image is served by the access-checked inline views, which the policy admits as
    our own origin: it renders for the agent and for the customer, with no violation."""
    from tests.channels_in.mailtools import email_account, ingest, make_mail
    from tickets.models import Ticket

    identity = customer_contact.identities.get(kind="email")
    raw = make_mail(
        sender=identity.value,
        html='<p>Our logo:</p><img src="cid:logo-1" alt="company logo">',
        inline_image=("logo-1", PNG_2X2),
    )
    ingest(email_account(group=support), raw)
    ticket = Ticket.objects.get()
    for user, url in (
        (agent, f"/desk/tickets/{ticket.number}/"),
        (customer, f"/portal/tickets/{ticket.number}/"),
    ):
        context = browser.new_context()
        page = context.new_page()
        try:
            login(page, live_server.url, user.email)
            visit(page, live_server.url + url)
            page.wait_for_function(
                "() => document.querySelector('img[alt=\"company logo\"]')?.naturalWidth === 2"
            )
        finally:
            context.close()

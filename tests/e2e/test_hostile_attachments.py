"""A stranger mails an HTML page and an SVG that carry script. Whatever an agent (or anybody
else) does with them in a real browser, with DEBUG on or off, the script never runs: the files
are not under any static route, and the access-checked downloads are inert attachments."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from channels_in.models import InboundMessage
from tests.channels_in.mailtools import email_account, ingest
from tests.e2e.conftest import login, run_asgi_server
from tickets.models import Attachment, Ticket

pytestmark = pytest.mark.e2e

MARK = "HOSTILE-SCRIPT-RAN"
HTML_PAGE = (
    "<!doctype html><html><body><h1>Invoice</h1>"
    f"<script>console.log('{MARK} html'); fetch('/canary/html?c=' + document.cookie);"
    "alert('html');</script>"
    f"<img src=x onerror=\"console.log('{MARK} onerror'); fetch('/canary/img')\">"
    "</body></html>"
)
SVG_IMAGE = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40" '
    f"onload=\"console.log('{MARK} svg'); fetch('/canary/svg'); alert('svg')\">"
    f"<script>console.log('{MARK} svg script')</script>"
    '<rect width="40" height="40" fill="red"/></svg>'
)


def hostile_mail() -> bytes:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = "Mallory <mallory@attacker.test>"
    msg["To"] = "support@desk.test"
    msg["Subject"] = "Your invoice and our logo"
    msg["Message-ID"] = "<hostile-1@attacker.test>"
    msg.set_content("Please open the attached invoice.")
    msg.add_attachment(HTML_PAGE.encode(), maintype="text", subtype="html", filename="invoice.html")
    msg.add_attachment(SVG_IMAGE.encode(), maintype="image", subtype="svg+xml", filename="logo.svg")
    return msg.as_bytes()


@pytest.mark.parametrize("debug", ["1", "0"], ids=["debug-on", "debug-off"])
def test_a_mailed_html_or_svg_attachment_never_runs(
    browser: Any, agent: Any, support: Any, tmp_path: Path, artifacts: Path, debug: str
) -> None:
    inbound = ingest(email_account(group=support), hostile_mail())
    assert inbound.status == InboundMessage.Status.PROCESSED, inbound.reason
    ticket = Ticket.objects.get()
    files = {a.filename: a for a in Attachment.objects.filter(message__ticket=ticket)}
    assert set(files) == {"invoice.html", "logo.svg"}

    ran: list[str] = []
    with run_asgi_server(tmp_path, DEBUG=debug) as server:
        for who in ("agent", "stranger"):
            context = browser.new_context(accept_downloads=True)
            context.set_default_timeout(10_000)
            context.on("console", lambda m: ran.append(m.text) if MARK in m.text else None)
            context.on("request", lambda r: ran.append(r.url) if "/canary/" in r.url else None)
            context.on("dialog", lambda d: (ran.append(f"dialog {d.message}"), d.dismiss()))
            page = context.new_page()
            try:
                if who == "agent":
                    login(page, server, agent.email)
                    page.goto(f"{server}/desk/tickets/{ticket.number}/")
                    for name in files:
                        with page.expect_download() as download:
                            page.get_by_role("link", name=name).click()
                        assert download.value.suggested_filename == name
                    page.screenshot(path=str(artifacts / f"hostile-attachments-{debug}.png"))
                for name, attachment in files.items():
                    # straight to the file's bytes on disk: no route serves them, in any mode
                    media = page.goto(f"{server}/media/{attachment.file.name}")
                    assert media is not None and media.status == 404, (who, name)
                    # the inline-image view never shows an SVG or HTML in place
                    inline = page.goto(f"{server}/desk/attachments/{attachment.pk}/inline/")
                    assert inline is not None and inline.status in (404, 200)
                    if who == "agent":
                        assert inline.status == 404
                        # opening the download URL itself: a download, never a page
                        with page.expect_download() as download:
                            try:
                                page.goto(f"{server}/desk/attachments/{attachment.pk}/")
                            except PlaywrightError as exc:
                                assert "Download is starting" in str(exc)
                        assert download.value.suggested_filename == name
                    else:
                        # a stranger is sent to sign in, and sees nothing of the file
                        page.goto(f"{server}/desk/attachments/{attachment.pk}/")
                        expect(page).to_have_url(
                            f"{server}/accounts/login/?next=/desk/attachments/{attachment.pk}/"
                        )
                page.wait_for_timeout(300)  # an onload or a fetch would have fired by now
            finally:
                context.close()
    assert not ran, f"attachment script ran: {ran}"

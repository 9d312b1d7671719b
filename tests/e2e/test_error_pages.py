"""The error pages a person meets, looked at in a real browser (and under the page policy)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.template.loader import render_to_string
from playwright.sync_api import expect

from tests.e2e.conftest import login

pytestmark = pytest.mark.e2e


def test_403_404_and_500_pages_are_styled(
    page: Any, live_server: Any, customer: Any, artifacts: Path
) -> None:
    missing = page.goto(f"{live_server.url}/no/such/page/")
    assert missing is not None and missing.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    expect(page.locator(".error-code")).to_have_text("404")
    page.screenshot(path=str(artifacts / "error-404.png"), full_page=True)

    login(page, live_server.url, customer.email)
    denied = page.goto(f"{live_server.url}/desk/")
    assert denied is not None and denied.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.get_by_role("link", name="My requests", exact=True)).to_be_visible()
    # the desk's own 403 sends a customer on to the portal
    page.get_by_role("link", name="Go to my requests").click()
    expect(page).to_have_url(f"{live_server.url}/portal/")
    page.go_back()
    page.screenshot(path=str(artifacts / "error-403.png"), full_page=True)

    # Django renders 500.html with no request at all; shown here from the site's origin so its
    # stylesheet loads as it would
    page.goto(f"{live_server.url}/accounts/login/")
    page.set_content(render_to_string("500.html"))
    expect(page.get_by_role("heading", name="Something went wrong on our side")).to_be_visible()
    page.wait_for_function(
        "() => getComputedStyle(document.querySelector('.error-page')).textAlign === 'center'"
    )
    page.screenshot(path=str(artifacts / "error-500.png"), full_page=True)


def test_the_api_docs_and_the_admin_work_under_the_policy(
    page: Any, live_server: Any, admin_user: Any, artifacts: Path
) -> None:
    """Swagger UI (served by us, its start-up script from a URL) and Django's admin run with no
    CSP violation: the autouse hook fails this test on any."""
    login(page, live_server.url, admin_user.email)
    page.goto(f"{live_server.url}/api/docs/")
    expect(page.locator(".swagger-ui .title")).to_contain_text("Helpdesk API")
    page.locator(".opblock-summary").first.click()
    page.wait_for_timeout(300)
    page.screenshot(path=str(artifacts / "api-docs.png"))
    page.goto(f"{live_server.url}/admin/")
    expect(page.locator("#site-name")).to_be_visible()
    page.goto(f"{live_server.url}/admin/tickets/ticket/")
    expect(page.locator("#changelist")).to_be_visible()

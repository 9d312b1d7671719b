"""An admin sets up business hours in the desk: a calendar with a lunch break, a holiday and a
group, then asks it when a Friday-afternoon ticket is due."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import login
from tickets import calendar_services as services
from tickets.calendar_models import Calendar

pytestmark = pytest.mark.e2e


def test_an_admin_creates_a_calendar_in_the_desk(
    page: Any, live_server: Any, admin_user: Any, support: Any, artifacts: Path
) -> None:
    login(page, live_server.url, admin_user.email)
    page.get_by_role("link", name="Calendars").click()
    expect(page.get_by_role("heading", level=1, name="Business calendars")).to_be_visible()
    page.get_by_role("link", name="New calendar").click()

    page.get_by_label("Name").fill("Berlin office")
    page.get_by_label("Timezone").select_option("Europe/Berlin")
    page.get_by_label("Default calendar").check()
    monday = page.locator('[data-day="mon"]')
    monday.get_by_label("Monday closes").fill("12:00")
    monday.get_by_role("button", name="Add hours").click()
    second = monday.locator("[data-segment]").nth(1)
    expect(second.get_by_label("Monday opens")).to_be_focused()
    second.get_by_label("Monday opens").fill("13:00")
    second.get_by_label("Monday closes").fill("17:00")
    page.get_by_role("button", name="Copy Monday to Tue–Fri").click()
    expect(page.locator('[data-day="fri"] [data-segment]')).to_have_count(2)
    # Saturday mornings, added to a closed day
    saturday = page.locator('[data-day="sat"]')
    expect(saturday.get_by_text("Closed")).to_be_visible()
    saturday.get_by_role("button", name="Add hours").click()
    saturday.get_by_label("Saturday opens").fill("10:00")
    saturday.get_by_label("Saturday closes").fill("12:00")
    expect(saturday.get_by_text("Closed")).to_be_hidden()

    page.get_by_role("button", name="Add a holiday").click()
    holiday = page.locator("[data-holiday]").last
    holiday.get_by_label("Date").fill("2026-12-07")
    holiday.get_by_label("Name").fill("Team day")
    page.get_by_label("Support").check()
    page.set_viewport_size({"width": 1280, "height": 900})
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(artifacts / "calendar-new-1280.png"), full_page=True)
    page.get_by_role("button", name="Create calendar").click()

    expect(page.get_by_text("Calendar Berlin office created.")).to_be_visible()
    calendar = Calendar.objects.get(name="Berlin office")
    weekday = [["09:00", "12:00"], ["13:00", "17:00"]]
    assert calendar.hours == {
        **{day: weekday for day in ["mon", "tue", "wed", "thu", "fri"]},
        "sat": [["10:00", "12:00"]],
    }
    assert calendar.is_default
    assert services.calendar_spec(calendar).holidays == frozenset({date(2026, 12, 7)})
    support.refresh_from_db()
    assert support.calendar_id == calendar.pk

    # Friday 16:30 + 180 business minutes: 30 on Friday, 120 on Saturday morning, Monday is
    # the team day, Tuesday opens at 09:00 → Tuesday 09:30.
    page.get_by_label("A ticket at").fill("2026-12-04T16:30")
    page.get_by_label("with a target of (business minutes)").fill("180")
    page.get_by_role("button", name="Show the due time").click()
    result = page.locator("[data-preview-result]")
    expect(result).to_contain_text(re.compile(r"is due\s+Tue 8 Dec 2026, 09:30"))
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(artifacts / "calendar-edit-1280.png"), full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(artifacts / "calendar-edit-390.png"), full_page=True)
    page.get_by_role("link", name="Business calendars").click()
    expect(page.get_by_role("link", name="Berlin office")).to_be_visible()
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(artifacts / "calendars-390.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(artifacts / "calendars-1280.png"), full_page=True)

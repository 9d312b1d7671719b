"""The Django admin page of a calendar: holidays inline, a due-time preview, one default."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from tests.conftest import client_for
from tickets import calendar_services as services
from tickets.calendar_models import Calendar

pytestmark = pytest.mark.django_db

HOURS = {day: [["09:00", "17:00"]] for day in ["mon", "tue", "wed", "thu", "fri"]}


@pytest.fixture
def root(admin_user: Any) -> Client:
    return client_for(admin_user)


def test_the_change_page_previews_due_times(root: Client) -> None:
    calendar = services.calendar_create(name="Berlin", timezone_name="Europe/Berlin", hours=HOURS)
    page = root.get(reverse("admin:tickets_calendar_change", args=[calendar.pk])).content.decode()
    day = r"\d{1,2} \w{3} \d{4}"
    assert re.search(
        rf"A ticket at Fri {day} 16:30 with a target of 1 hour is due Mon {day} 09:30\.", page
    )
    assert re.search(
        rf"A ticket at Fri {day} 16:30 with a target of 24 hours is due Wed {day} 16:30\.", page
    )
    assert "Times in Europe/Berlin." in page


def test_adding_a_default_in_the_admin_moves_the_default(root: Client) -> None:
    first = services.calendar_create(
        name="First", timezone_name="UTC", hours=HOURS, is_default=True
    )
    response = root.post(
        reverse("admin:tickets_calendar_add"),
        {
            "name": "Second",
            "timezone": "Europe/Berlin",
            "hours": '{"mon": [["08:00", "12:00"], ["13:00", "17:00"]]}',
            "make_default": "on",
            "holidays-TOTAL_FORMS": "1",
            "holidays-INITIAL_FORMS": "0",
            "holidays-0-date": "2026-12-24",
            "holidays-0-name": "Christmas Eve",
            "holidays-0-yearly": "on",
            "holidays-0-source": "manual",
        },
    )
    assert response.status_code == 302, (
        response.context["adminform"].form.errors,
        [f.formset.errors for f in response.context["inline_admin_formsets"]],
    )
    second = Calendar.objects.get(name="Second")
    assert second.is_default
    first.refresh_from_db()
    assert not first.is_default
    assert (12, 24) in services.calendar_spec(second).yearly_holidays


def test_bad_hours_in_the_admin_are_a_form_error(root: Client) -> None:
    response = root.post(
        reverse("admin:tickets_calendar_add"),
        {
            "name": "Bad",
            "timezone": "Mars/Base",
            "hours": '{"mon": [["17:00", "09:00"]]}',
            "holidays-TOTAL_FORMS": "0",
            "holidays-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "ends before it starts" in page
    assert "Unknown timezone" in page
    assert not Calendar.objects.exists()

"""The desk's calendar pages: an admin lists, creates and edits calendars (several segments a
day, holidays, groups, default), imports holidays and previews due times; nobody else may."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import responses
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from tests.conftest import client_for
from tests.factories import GroupFactory
from tests.tickets.test_calendar_services import FEED_URL, ICS
from tickets import calendar_services as services
from tickets.calendar_import import HolidayInput
from tickets.calendar_models import Calendar
from tickets.models import Group

pytestmark = pytest.mark.django_db

HOURS = {day: [["09:00", "17:00"]] for day in ["mon", "tue", "wed", "thu", "fri"]}


@pytest.fixture
def root(admin_user: Any) -> Client:
    return client_for(admin_user)


@pytest.fixture
def office() -> Calendar:
    return services.calendar_create(
        name="Berlin",
        timezone_name="Europe/Berlin",
        hours=HOURS,
        holidays=[HolidayInput(date(2026, 12, 7), "Team day")],
    )


def form_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Lisbon support",
        "timezone": "Europe/Lisbon",
        "hours-mon-start": ["08:00", "13:00"],
        "hours-mon-end": ["12:00", "17:00"],
        "hours-fri-start": ["08:00", ""],
        "hours-fri-end": ["24:00", ""],
        "holiday-date": ["2026-12-08", "2026-12-25", ""],
        "holiday-name": ["Immaculate Conception", "Christmas", ""],
        "holiday-repeat": ["once", "yearly", "once"],
    }
    data.update(changes)
    return data


def test_an_admin_creates_a_calendar_with_several_segments_a_day(
    root: Client, support: Group
) -> None:
    response = root.post(
        reverse("desk:calendar_new"), form_data(groups=[support.pk], make_default="on")
    )
    calendar = Calendar.objects.get(name="Lisbon support")
    assert response.status_code == 302
    assert response["Location"] == reverse("desk:calendar_edit", args=[calendar.pk])
    assert calendar.hours == {
        "mon": [["08:00", "12:00"], ["13:00", "17:00"]],
        "fri": [["08:00", "24:00"]],
    }
    assert calendar.timezone == "Europe/Lisbon"
    assert calendar.is_default
    spec = services.calendar_spec(calendar)
    assert spec.holidays == frozenset({date(2026, 12, 8)})
    assert spec.yearly_holidays == frozenset({(12, 25)})
    support.refresh_from_db()
    assert support.calendar == calendar


def test_bad_hours_show_the_reason_and_keep_what_was_typed(root: Client) -> None:
    response = root.post(
        reverse("desk:calendar_new"),
        form_data(**{"hours-mon-start": ["08:00", "11:00"], "hours-mon-end": ["12:00", "17:00"]}),
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "mon: 08:00–12:00 overlaps 11:00–17:00." in page
    assert 'value="11:00"' in page
    assert 'value="Immaculate Conception"' in page
    assert not Calendar.objects.exists()


def test_a_bad_holiday_date_is_refused(root: Client) -> None:
    response = root.post(
        reverse("desk:calendar_new"),
        form_data(
            **{"holiday-date": ["2026-13-01"], "holiday-name": ["x"], "holiday-repeat": ["once"]}
        ),
    )
    assert "is not a date" in response.content.decode()
    assert not Calendar.objects.exists()


def test_editing_replaces_hours_and_holidays(
    root: Client, office: Calendar, billing: Group
) -> None:
    page = root.get(reverse("desk:calendar_edit", args=[office.pk])).content.decode()
    assert 'value="Team day"' in page
    assert 'value="Berlin"' in page
    response = root.post(
        reverse("desk:calendar_edit", args=[office.pk]),
        form_data(name="Berlin", timezone="Europe/Berlin", groups=[billing.pk]),
    )
    assert response.status_code == 302
    office.refresh_from_db()
    assert office.name == "Berlin"
    assert "tue" not in office.hours
    assert set(office.holidays.values_list("name", flat=True)) == {
        "Immaculate Conception",
        "Christmas",
    }
    billing.refresh_from_db()
    assert billing.calendar == office


def test_the_edit_page_previews_a_due_time(root: Client, office: Calendar) -> None:
    url = reverse("desk:calendar_preview", args=[office.pk])
    response = root.get(url, {"start": "2026-12-04T16:30", "minutes": "60"}, HTTP_HX_REQUEST="true")
    text = " ".join(response.content.decode().split())
    assert (
        "A ticket at <strong>Fri 4 Dec 2026, 16:30</strong> with a target of "
        "<strong>1 hour</strong> is due <strong>Tue 8 Dec 2026, 09:30</strong>." in text
    )
    # without htmx, the same form reloads the edit page with the answer in it
    page = root.get(
        reverse("desk:calendar_edit", args=[office.pk]),
        {"start": "2026-12-04T16:30", "minutes": "60"},
    ).content.decode()
    assert "Tue 8 Dec 2026, 09:30" in page
    bad = root.get(url, {"start": "tomorrow", "minutes": "-1"}).content.decode()
    assert "Enter a valid date/time." in bad


def test_holidays_come_from_an_ical_file(root: Client, office: Calendar) -> None:
    upload = SimpleUploadedFile("holidays.ics", ICS, content_type="text/calendar")
    response = root.post(
        reverse("desk:calendar_import", args=[office.pk]), {"file": upload}, follow=True
    )
    page = response.content.decode()
    assert "3 holidays added (4 found)." in page  # the team day was there already
    assert "Left out: Short Fridays: repeats by a rule other than every year" in page
    assert office.holidays.count() == 4


@responses.activate
def test_holidays_come_from_an_ical_feed(root: Client, office: Calendar) -> None:
    responses.get(FEED_URL, body=ICS, content_type="text/calendar")
    response = root.post(
        reverse("desk:calendar_import", args=[office.pk]), {"url": FEED_URL}, follow=True
    )
    assert "3 holidays added" in response.content.decode()
    responses.replace(responses.GET, FEED_URL, status=500)
    response = root.post(
        reverse("desk:calendar_import", args=[office.pk]), {"url": FEED_URL}, follow=True
    )
    assert "The address answered 500" in response.content.decode()
    response = root.post(reverse("desk:calendar_import", args=[office.pk]), {}, follow=True)
    assert "Choose an .ics file" in response.content.decode()


def test_a_country_preset_adds_public_holidays(root: Client, office: Calendar) -> None:
    response = root.post(
        reverse("desk:calendar_preset", args=[office.pk]),
        {"country": "US", "subdivision": "", "years": [str(date.today().year)]},  # noqa: DTZ011
        follow=True,
    )
    assert "holidays added" in response.content.decode()
    assert office.holidays.filter(name__icontains="Independence Day").exists()


def test_default_and_delete(root: Client, office: Calendar, support: Group) -> None:
    services.calendar_assign_groups(calendar=office, groups=[support])
    response = root.post(reverse("desk:calendar_default", args=[office.pk]), follow=True)
    assert "Berlin is now the default calendar." in response.content.decode()
    office.refresh_from_db()
    assert office.is_default
    root.post(reverse("desk:calendar_delete", args=[office.pk]))
    assert not Calendar.objects.exists()
    support.refresh_from_db()
    assert support.calendar is None


def test_the_list_shows_every_calendar_in_flat_queries(
    root: Client, django_assert_max_num_queries: Any
) -> None:
    for i in range(5):
        services.calendar_create(
            name=f"Office {i}",
            timezone_name="Europe/Berlin",
            hours=HOURS | {"sat": [["10:00", "14:00"]]},
            holidays=[HolidayInput(date(2026, 12, 24), "Eve")],
            groups=[GroupFactory()],
        )
    with django_assert_max_num_queries(10):
        response = root.get(reverse("desk:calendars"))
    page = response.content.decode()
    assert page.count("Mon–Fri 09:00–17:00") == 5
    assert "Sat 10:00–14:00" in page
    assert 'href="/desk/calendars/"' in page  # the top bar links it


def test_only_admins_reach_the_pages(
    office: Calendar, agent: Any, supervisor: Any, customer: Any, client: Client
) -> None:
    urls = [
        reverse("desk:calendars"),
        reverse("desk:calendar_new"),
        reverse("desk:calendar_edit", args=[office.pk]),
        reverse("desk:calendar_preview", args=[office.pk]),
    ]
    for user in (agent, supervisor, customer):
        other = client_for(user)
        for url in urls:
            assert other.get(url).status_code == 403
        assert other.post(reverse("desk:calendar_delete", args=[office.pk])).status_code == 403
        assert 'href="/desk/calendars/"' not in other.get("/desk/").content.decode()
    assert client.get(urls[0]).status_code == 302  # to the login page
    assert Calendar.objects.filter(pk=office.pk).exists()

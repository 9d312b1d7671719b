"""Calendar services: holidays from iCal files and feeds and country presets, the default
calendar, group assignment, and the spec the SLA engine reads."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
import responses
from django.db import IntegrityError, transaction

from tests.factories import GroupFactory
from tickets import calendar_services as services
from tickets.calendar_import import HolidayInput, holidays_from_ical
from tickets.calendar_models import Calendar, CalendarHoliday
from tickets.calendars import CalendarSpec, add_business_minutes

pytestmark = pytest.mark.django_db

HOURS = {day: [["09:00", "17:00"]] for day in ["mon", "tue", "wed", "thu", "fri"]}
FEED_URL = "https://calendars.example.org/holidays/de.ics"

# Shaped like the public-holiday feeds calendar providers publish (all-day VEVENTs).
ICS = b"""BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Example Corp//Holidays 1.0//EN\r
CALSCALE:GREGORIAN\r
METHOD:PUBLISH\r
X-WR-CALNAME:Holidays in Germany\r
BEGIN:VEVENT\r
UID:20261225_christmas@example.org\r
DTSTAMP:20261101T000000Z\r
DTSTART;VALUE=DATE:20261225\r
DTEND;VALUE=DATE:20261227\r
SUMMARY:Christmas\r
TRANSP:TRANSPARENT\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:newyear@example.org\r
DTSTAMP:20261101T000000Z\r
DTSTART;VALUE=DATE:20270101\r
SUMMARY:New Year's Day\r
RRULE:FREQ=YEARLY\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:teamday@example.org\r
DTSTAMP:20261101T000000Z\r
DTSTART;TZID=Europe/Berlin:20261207T090000\r
DTEND;TZID=Europe/Berlin:20261207T170000\r
SUMMARY:Team day\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:weekly@example.org\r
DTSTAMP:20261101T000000Z\r
DTSTART;VALUE=DATE:20261204\r
RRULE:FREQ=WEEKLY;BYDAY=FR\r
SUMMARY:Short Fridays\r
END:VEVENT\r
END:VCALENDAR\r
"""


@pytest.fixture
def office() -> Calendar:
    return services.calendar_create(name="Berlin", timezone_name="Europe/Berlin", hours=HOURS)


def test_ical_events_become_holidays_and_repeating_ones_are_reported() -> None:
    found = holidays_from_ical(ICS)
    assert [(h.date, h.name, h.yearly) for h in found.holidays] == [
        (date(2026, 12, 25), "Christmas", False),
        (date(2026, 12, 26), "Christmas", False),  # DTEND is exclusive: two days
        (date(2027, 1, 1), "New Year's Day", True),
        (date(2026, 12, 7), "Team day", False),
    ]
    assert found.skipped == ["Short Fridays: repeats by a rule other than every year"]


def test_importing_an_ical_file_twice_adds_nothing_the_second_time(office: Calendar) -> None:
    added, found = services.calendar_import_ical(calendar=office, data=ICS)
    assert added == 4
    assert len(found.skipped) == 1
    again, _ = services.calendar_import_ical(calendar=office, data=ICS)
    assert again == 0
    rows = CalendarHoliday.objects.filter(calendar=office)
    assert rows.count() == 4
    assert set(rows.values_list("source", flat=True)) == {CalendarHoliday.Source.ICAL}
    yearly = rows.get(yearly=True)
    assert (yearly.date.month, yearly.date.day) == (1, 1)
    spec = services.calendar_spec(office)
    # Friday 4 Dec 16:30 + 60 → Tuesday 8 Dec 09:30 (the team day closes Monday)
    due = add_business_minutes(spec, datetime(2026, 12, 4, 15, 30, tzinfo=UTC), 60)
    assert due.isoformat() == "2026-12-08T09:30:00+01:00"
    assert (1, 1) in spec.yearly_holidays


@pytest.mark.parametrize(
    "data", [b"", b"not a calendar", b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n", b"<html></html>"]
)
def test_a_file_that_is_not_ical_is_refused_and_nothing_is_added(
    office: Calendar, data: bytes
) -> None:
    with pytest.raises(services.CalendarServiceError, match="iCal"):
        services.calendar_import_ical(calendar=office, data=data)
    assert not office.holidays.exists()


@responses.activate
def test_an_ical_feed_is_fetched_and_imported(office: Calendar) -> None:
    responses.get(FEED_URL, body=ICS, content_type="text/calendar; charset=utf-8")
    added, _ = services.calendar_import_ical_url(calendar=office, url=FEED_URL)
    assert added == 4
    assert responses.calls[0].request.url == FEED_URL


@responses.activate
def test_a_feed_that_fails_says_why(office: Calendar) -> None:
    responses.get(FEED_URL, status=404, body="Not Found")
    with pytest.raises(services.CalendarServiceError, match="404"):
        services.calendar_import_ical_url(calendar=office, url=FEED_URL)
    with pytest.raises(services.CalendarServiceError, match="http"):
        services.calendar_import_ical_url(calendar=office, url="file:///etc/passwd")
    responses.get(FEED_URL, body=b"X" * (3 * 1024 * 1024))
    responses.replace(responses.GET, FEED_URL, body=b"X" * (3 * 1024 * 1024))
    with pytest.raises(services.CalendarServiceError, match="larger"):
        services.calendar_import_ical_url(calendar=office, url=FEED_URL)
    assert not office.holidays.exists()


def test_a_country_preset_adds_its_public_holidays(office: Calendar) -> None:
    added, found = services.calendar_add_country_preset(
        calendar=office, country="de", subdivision="BY", years=[2026]
    )
    days = dict(office.holidays.values_list("date", "name"))
    assert added == len(found.holidays) == len(days)
    assert days[date(2026, 12, 25)] == "Christmas Day"
    assert date(2026, 1, 6) in days  # Epiphany: Bavaria only
    assert date(2026, 4, 3) in days  # Good Friday moves: a single date, not yearly
    assert not office.holidays.filter(yearly=True).exists()
    again, _ = services.calendar_add_country_preset(
        calendar=office, country="DE", subdivision="BY", years=[2026]
    )
    assert again == 0
    with pytest.raises(services.CalendarServiceError, match="No holiday preset"):
        services.calendar_add_country_preset(calendar=office, country="XX", years=[2026])
    with pytest.raises(services.CalendarServiceError, match="no region"):
        services.calendar_add_country_preset(
            calendar=office, country="DE", subdivision="ZZ", years=[2026]
        )


def test_a_group_uses_its_calendar_else_the_default(office: Calendar) -> None:
    support, billing = GroupFactory(name="Support"), GroupFactory(name="Billing")
    assert services.calendar_for_group(support) is None
    assert services.calendar_spec_for_group(support) == CalendarSpec.always_open()
    new_york = services.calendar_create(
        name="New York", timezone_name="America/New_York", hours=HOURS, is_default=True
    )
    services.calendar_assign_groups(calendar=office, groups=[support])
    support.refresh_from_db()
    billing.refresh_from_db()
    assert services.calendar_for_group(support) == office
    assert services.calendar_spec_for_group(support).timezone == "Europe/Berlin"
    assert services.calendar_spec_for_group(billing).timezone == "America/New_York"
    assert services.calendar_for_group(billing) == new_york
    assert services.calendar_for_group(None) == new_york
    services.calendar_assign_groups(calendar=office, groups=[])
    support.refresh_from_db()
    assert services.calendar_for_group(support) == new_york


def test_the_database_refuses_two_defaults(office: Calendar) -> None:
    services.calendar_set_default(calendar=office)
    other = services.calendar_create(name="Other", timezone_name="UTC", hours=HOURS)
    with pytest.raises(IntegrityError), transaction.atomic():
        Calendar.objects.filter(pk=other.pk).update(is_default=True)
    services.calendar_set_default(calendar=other)
    office.refresh_from_db()
    assert not office.is_default


def test_equal_calendars_share_one_spec_and_a_change_gives_a_new_one(office: Calendar) -> None:
    first = services.calendar_spec(office)
    assert services.calendar_spec(Calendar.objects.get(pk=office.pk)) is first
    services.calendar_update(
        calendar=office,
        name=office.name,
        timezone_name=office.timezone,
        hours=office.hours,
        holidays=[HolidayInput(date(2026, 12, 24), "Christmas Eve")],
    )
    changed = services.calendar_spec(office)
    assert changed is not first
    assert changed.holidays == frozenset({date(2026, 12, 24)})


def test_the_spec_costs_no_query_with_holidays_prefetched(
    office: Calendar, django_assert_num_queries: Any
) -> None:
    loaded = Calendar.objects.prefetch_related("holidays").get(pk=office.pk)
    with django_assert_num_queries(0):
        services.calendar_spec(loaded)


def test_bad_definitions_are_refused_by_the_service() -> None:
    with pytest.raises(services.CalendarServiceError, match="Unknown timezone"):
        services.calendar_create(name="X", timezone_name="Nowhere/City", hours=HOURS)
    with pytest.raises(services.CalendarServiceError, match="overlaps"):
        services.calendar_create(
            name="X", timezone_name="UTC", hours={"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}
        )
    with pytest.raises(services.CalendarServiceError, match="needs a name"):
        services.calendar_create(name="  ", timezone_name="UTC", hours=HOURS)
    assert not Calendar.objects.exists()

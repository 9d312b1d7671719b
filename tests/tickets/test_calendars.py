"""Business-time arithmetic, held against a minute-by-minute reference and the cases peers get
wrong (Zammad #3180's midnight gap, osTicket #6739's missing weekdays, DST, lunch breaks)."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tickets.calendars import (
    WEEKDAYS,
    CalendarError,
    CalendarNeverOpen,
    CalendarSpec,
    add_business_minutes,
    add_business_time,
    business_minutes_between,
    business_time_between,
    is_open,
    next_opening,
    parse_weekly_hours,
    weekly_hours_to_json,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS_9_TO_5 = {day: [["09:00", "17:00"]] for day in WEEKDAYS[:5]}


def office(tz: str = "Europe/Berlin", **kwargs: object) -> CalendarSpec:
    return CalendarSpec.build(timezone=tz, hours=WEEKDAYS_9_TO_5, **kwargs)  # type: ignore[arg-type]


def at(tz: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=tz)  # type: ignore[misc]


# --- the reference: one minute at a time, straight from the definition ------------------------


def ref_open(spec: CalendarSpec, instant: datetime) -> bool:
    local = instant.astimezone(ZoneInfo(spec.timezone))
    day = local.date()
    if day in spec.holidays or (day.month, day.day) in spec.yearly_holidays:
        return False
    wall = local.hour * 60 + local.minute
    return any(start <= wall < end for start, end in spec.hours[day.weekday()])


def ref_between(spec: CalendarSpec, start: datetime, end: datetime) -> int:
    count, cursor = 0, start.astimezone(UTC)
    while cursor < end:
        count += ref_open(spec, cursor)
        cursor += timedelta(minutes=1)
    return count


def ref_add(spec: CalendarSpec, start: datetime, minutes: int, budget: int) -> datetime | None:
    cursor = start.astimezone(UTC)
    while minutes > 0:
        if budget == 0:
            return None
        budget -= 1
        if ref_open(spec, cursor):
            minutes -= 1
        cursor += timedelta(minutes=1)
    return cursor


# --- hypothesis -------------------------------------------------------------------------------

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]
# Local dates around each zone's 2026 transitions, where mistakes live.
ANCHORS = [
    datetime(2026, 3, 8, 7, tzinfo=UTC),
    datetime(2026, 3, 29, 1, tzinfo=UTC),
    datetime(2026, 4, 4, 15, tzinfo=UTC),
    datetime(2026, 10, 3, 15, tzinfo=UTC),
    datetime(2026, 10, 25, 1, tzinfo=UTC),
    datetime(2026, 11, 1, 6, tzinfo=UTC),
    datetime(2026, 12, 31, 23, tzinfo=UTC),
]


@st.composite
def segments(draw: st.DrawFn) -> list[list[str]]:
    cuts = sorted(draw(st.sets(st.integers(0, 96), max_size=6)))
    if len(cuts) % 2:
        cuts = cuts[:-1]
    pairs = []
    for start, end in zip(cuts[::2], cuts[1::2], strict=True):
        pairs.append(
            [
                f"{start * 15 // 60:02d}:{start * 15 % 60:02d}",
                f"{end * 15 // 60:02d}:{end * 15 % 60:02d}",
            ]
        )
    return pairs


@st.composite
def specs(draw: st.DrawFn) -> CalendarSpec:
    tz = draw(st.sampled_from(ZONES))
    hours = {day: draw(segments()) for day in WEEKDAYS if draw(st.integers(0, 4))}
    assume(any(hours.values()))
    holidays = draw(
        st.sets(st.dates(min_value=date(2026, 2, 25), max_value=date(2027, 1, 10)), max_size=8)
    )
    yearly = draw(st.sets(st.sampled_from([(3, 30), (10, 26), (11, 2), (12, 31), (1, 1)])))
    return CalendarSpec.build(timezone=tz, hours=hours, holidays=holidays, yearly_holidays=yearly)


instants = st.builds(
    lambda anchor, minutes: anchor + timedelta(minutes=minutes),
    st.sampled_from(ANCHORS),
    st.integers(-3 * 1440, 3 * 1440),
)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(spec=specs(), start=instants, minutes=st.integers(0, 1500))
def test_adding_agrees_with_the_minute_by_minute_reference(
    spec: CalendarSpec, start: datetime, minutes: int
) -> None:
    expected = ref_add(spec, start, minutes, budget=40 * 1440)
    assume(expected is not None)
    due = add_business_minutes(spec, start, minutes)
    # the same instant: `==` between zones is False for a wall time in a DST fold (PEP 495)
    assert due.timestamp() == expected.timestamp()
    assert business_minutes_between(spec, start, due) == minutes


@PROPERTY
@given(spec=specs(), start=instants, length=st.integers(0, 6 * 1440))
def test_counting_agrees_with_the_minute_by_minute_reference(
    spec: CalendarSpec, start: datetime, length: int
) -> None:
    end = start + timedelta(minutes=length)
    assert business_minutes_between(spec, start, end) == ref_between(spec, start, end)


@PROPERTY
@given(spec=specs(), instant=instants)
def test_is_open_and_next_opening_agree_with_the_reference(
    spec: CalendarSpec, instant: datetime
) -> None:
    assert is_open(spec, instant) == ref_open(spec, instant)
    opening = next_opening(spec, instant)
    assert opening >= instant
    assert ref_open(spec, opening)
    assert business_minutes_between(spec, instant, opening) == 0


# --- the cases peers get wrong, one by one -----------------------------------------------------


def test_a_24_7_calendar_has_no_gap_at_midnight() -> None:
    spec = CalendarSpec.build(
        timezone="Europe/Berlin", hours={day: [["00:00", "24:00"]] for day in WEEKDAYS}
    )
    assert is_open(spec, at(BERLIN, 2026, 12, 2, 0, 0))
    assert is_open(spec, at(BERLIN, 2026, 12, 2, 23, 59, 59))
    assert add_business_minutes(spec, at(BERLIN, 2026, 12, 2, 23, 59), 2) == at(
        BERLIN, 2026, 12, 3, 0, 1
    )
    assert (
        business_minutes_between(
            spec, at(BERLIN, 2026, 12, 2, 23, 30), at(BERLIN, 2026, 12, 3, 0, 30)
        )
        == 60
    )
    week = business_minutes_between(spec, at(BERLIN, 2026, 11, 30), at(BERLIN, 2026, 12, 7))
    assert week == 7 * 24 * 60
    assert spec == CalendarSpec.always_open("Europe/Berlin")


def test_time_that_starts_outside_hours_starts_at_the_next_opening() -> None:
    spec = office()
    saturday = at(BERLIN, 2026, 12, 5, 10, 0)
    assert add_business_minutes(spec, saturday, 30) == at(BERLIN, 2026, 12, 7, 9, 30)
    early_monday = at(BERLIN, 2026, 12, 7, 6, 0)
    assert add_business_minutes(spec, early_monday, 30) == at(BERLIN, 2026, 12, 7, 9, 30)
    assert business_minutes_between(spec, saturday, at(BERLIN, 2026, 12, 7, 10, 0)) == 60
    assert next_opening(spec, saturday) == at(BERLIN, 2026, 12, 7, 9, 0)


def test_friday_afternoon_plus_an_hour_is_monday_morning() -> None:
    friday = at(BERLIN, 2026, 12, 4, 16, 30)
    assert add_business_minutes(office(), friday, 60) == at(BERLIN, 2026, 12, 7, 9, 30)


def test_a_monday_holiday_moves_it_to_tuesday() -> None:
    friday = at(BERLIN, 2026, 12, 4, 16, 30)
    single = office(holidays=[date(2026, 12, 7)])
    assert add_business_minutes(single, friday, 60) == at(BERLIN, 2026, 12, 8, 9, 30)
    yearly = office(yearly_holidays=[(12, 7)])
    assert add_business_minutes(yearly, friday, 60) == at(BERLIN, 2026, 12, 8, 9, 30)
    # a year later the yearly one still closes the day; the single one does not
    friday_2027 = at(BERLIN, 2027, 12, 3, 16, 30)  # Monday 6 December, then Tuesday 7
    assert add_business_minutes(yearly, friday_2027, 60 + 8 * 60) == at(BERLIN, 2027, 12, 8, 9, 30)
    assert add_business_minutes(single, friday_2027, 60 + 8 * 60) == at(BERLIN, 2027, 12, 7, 9, 30)


def test_a_target_that_runs_out_at_closing_time_is_due_at_closing_time() -> None:
    assert add_business_minutes(office(), at(BERLIN, 2026, 12, 4, 16, 0), 60) == at(
        BERLIN, 2026, 12, 4, 17, 0
    )
    assert not is_open(office(), at(BERLIN, 2026, 12, 4, 17, 0))
    assert is_open(office(), at(BERLIN, 2026, 12, 4, 9, 0))


def test_lunch_is_skipped() -> None:
    spec = CalendarSpec.build(
        timezone="Europe/Berlin",
        hours={day: [["08:00", "12:00"], ["13:00", "17:00"]] for day in WEEKDAYS[:5]},
    )
    assert add_business_minutes(spec, at(BERLIN, 2026, 12, 2, 11, 30), 60) == at(
        BERLIN, 2026, 12, 2, 13, 30
    )
    assert (
        business_minutes_between(spec, at(BERLIN, 2026, 12, 2, 11), at(BERLIN, 2026, 12, 2, 14))
        == 120
    )
    assert not is_open(spec, at(BERLIN, 2026, 12, 2, 12, 30))
    assert next_opening(spec, at(BERLIN, 2026, 12, 2, 12, 30)) == at(BERLIN, 2026, 12, 2, 13)


def test_a_schedule_with_only_some_weekdays_works() -> None:
    # osTicket #6739: no Monday, no Tuesday in the schedule at all
    spec = CalendarSpec.build(
        timezone="America/New_York",
        hours={"wed": [["10:00", "14:00"]], "sat": [["09:00", "11:00"]]},
    )
    monday = at(NEW_YORK, 2026, 11, 30, 9, 0)
    assert add_business_minutes(spec, monday, 60) == at(NEW_YORK, 2026, 12, 2, 11, 0)
    assert add_business_minutes(spec, monday, 300) == at(NEW_YORK, 2026, 12, 5, 10, 0)
    assert business_minutes_between(spec, monday, at(NEW_YORK, 2026, 12, 7)) == 360
    assert weekly_hours_to_json(spec.hours) == {
        "wed": [["10:00", "14:00"]],
        "sat": [["09:00", "11:00"]],
    }


@pytest.mark.parametrize(
    ("tz", "spring", "autumn"),
    [
        ("Europe/Berlin", date(2026, 3, 29), date(2026, 10, 25)),
        ("America/New_York", date(2026, 3, 8), date(2026, 11, 1)),
    ],
)
def test_dst_days_are_23_and_25_hours_long(tz: str, spring: date, autumn: date) -> None:
    zone = ZoneInfo(tz)
    spec = CalendarSpec.always_open(tz)

    def day_minutes(day: date) -> int:
        start = datetime(day.year, day.month, day.day, tzinfo=zone)
        return business_minutes_between(spec, start, start.replace(day=day.day + 1))

    assert day_minutes(spring) == 23 * 60
    assert day_minutes(autumn) == 25 * 60
    assert day_minutes(spring + timedelta(days=1)) == 24 * 60
    start = datetime(spring.year, spring.month, spring.day, tzinfo=zone)
    assert add_business_minutes(spec, start, 23 * 60) == start.replace(day=spring.day + 1)


@pytest.mark.parametrize(
    ("tz", "day", "segment", "minutes"),
    [
        # spring forward: 02:00–03:00 does not exist
        ("Europe/Berlin", date(2026, 3, 29), ["01:00", "04:00"], 120),
        ("Europe/Berlin", date(2026, 3, 29), ["02:30", "05:00"], 120),  # opens at 03:00 CEST
        ("Europe/Berlin", date(2026, 3, 29), ["02:00", "03:00"], 0),
        ("America/New_York", date(2026, 3, 8), ["01:00", "03:00"], 60),
        # fall back: 02:00–03:00 (Berlin) / 01:00–02:00 (New York) happens twice
        ("Europe/Berlin", date(2026, 10, 25), ["01:00", "04:00"], 240),
        ("Europe/Berlin", date(2026, 10, 25), ["02:00", "03:00"], 120),
        ("America/New_York", date(2026, 11, 1), ["01:00", "02:00"], 120),
        ("America/New_York", date(2026, 11, 1), ["00:00", "24:00"], 25 * 60),
    ],
)
def test_segments_over_the_skipped_or_repeated_hour_count_wall_clock_time(
    tz: str, day: date, segment: list[str], minutes: int
) -> None:
    zone = ZoneInfo(tz)
    spec = CalendarSpec.build(timezone=tz, hours={WEEKDAYS[day.weekday()]: [segment]})
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    end = start + timedelta(days=2)
    assert business_minutes_between(spec, start, end) == minutes
    assert business_minutes_between(spec, start, end) == ref_between(spec, start, end)


def test_an_office_week_across_each_transition_keeps_its_wall_clock_hours() -> None:
    berlin = office()
    # Friday 27 March 16:00 CET + 2 h → Monday 30 March 10:00 CEST
    due = add_business_minutes(berlin, at(BERLIN, 2026, 3, 27, 16, 0), 120)
    assert due == at(BERLIN, 2026, 3, 30, 10, 0)
    assert due.utcoffset() == timedelta(hours=2)
    due = add_business_minutes(berlin, at(BERLIN, 2026, 10, 23, 16, 0), 120)
    assert due == at(BERLIN, 2026, 10, 26, 10, 0)
    assert due.utcoffset() == timedelta(hours=1)
    new_york = office("America/New_York")
    assert add_business_minutes(new_york, at(NEW_YORK, 2026, 3, 6, 16, 30), 60) == at(
        NEW_YORK, 2026, 3, 9, 9, 30
    )
    assert add_business_minutes(new_york, at(NEW_YORK, 2026, 10, 30, 16, 30), 60) == at(
        NEW_YORK, 2026, 11, 2, 9, 30
    )
    week = business_minutes_between(new_york, at(NEW_YORK, 2026, 3, 2), at(NEW_YORK, 2026, 3, 16))
    assert week == 10 * 8 * 60


def test_the_result_is_in_the_calendars_timezone_whatever_the_input() -> None:
    due = add_business_minutes(office(), datetime(2026, 12, 4, 15, 30, tzinfo=UTC), 60)
    assert due.tzinfo == BERLIN
    assert due == datetime(2026, 12, 7, 8, 30, tzinfo=UTC)


def test_big_minute_counts_are_exact() -> None:
    spec = office(holidays=[date(2027, 1, 1), date(2027, 5, 1)], yearly_holidays=[(12, 25)])
    start = at(BERLIN, 2026, 12, 4, 16, 30)
    due = add_business_minutes(spec, start, 100_000)
    counted = business_minutes_between(spec, start, due)
    assert counted == 100_000  # (speed: `make bench`, not a timed test on a shared machine)
    # day by day from the definition: 8 hours per open weekday
    day, left = start.date() + timedelta(days=1), 100_000 - 30
    while left > 480:
        if day.weekday() < 5 and day not in spec.holidays and (day.month, day.day) != (12, 25):
            left -= 480
        day += timedelta(days=1)
    while day.weekday() >= 5 or day in spec.holidays or (day.month, day.day) == (12, 25):
        day += timedelta(days=1)
    assert due == datetime(day.year, day.month, day.day, 9, tzinfo=BERLIN) + timedelta(minutes=left)
    # sparse: one hour a week still answers at once
    sparse = CalendarSpec.build(timezone="UTC", hours={"wed": [["10:00", "11:00"]]})
    began = time.perf_counter()
    far = add_business_minutes(sparse, datetime(2026, 12, 2, tzinfo=UTC), 100_000)  # 32 years
    assert time.perf_counter() - began < 0.1
    assert business_minutes_between(sparse, datetime(2026, 12, 2, tzinfo=UTC), far) == 100_000


def test_partial_minutes_round_down_and_seconds_are_kept() -> None:
    spec = office()
    nine = at(BERLIN, 2026, 12, 2, 9, 0)
    assert business_minutes_between(spec, nine, nine + timedelta(seconds=59)) == 0
    assert business_minutes_between(spec, nine, nine + timedelta(seconds=61)) == 1
    assert business_time_between(spec, nine, nine + timedelta(seconds=61)) == timedelta(seconds=61)
    assert add_business_minutes(spec, nine + timedelta(seconds=30), 1) == at(
        BERLIN, 2026, 12, 2, 9, 1, 30
    )
    late = at(BERLIN, 2026, 12, 2, 16, 59, 30)
    assert add_business_time(spec, late, timedelta(minutes=1)) == at(BERLIN, 2026, 12, 3, 9, 0, 30)
    assert business_minutes_between(spec, nine, nine - timedelta(hours=1)) == 0
    assert add_business_minutes(spec, at(BERLIN, 2026, 12, 5, 12), 0) == at(BERLIN, 2026, 12, 5, 12)


def test_bad_input_is_refused_clearly() -> None:
    with pytest.raises(CalendarError, match="naive"):
        add_business_minutes(office(), datetime(2026, 12, 2, 9), 10)  # noqa: DTZ001
    with pytest.raises(CalendarError, match="naive"):
        business_minutes_between(office(), at(BERLIN, 2026, 12, 2), datetime(2026, 12, 3))  # noqa: DTZ001
    with pytest.raises(CalendarError, match="negative"):
        add_business_minutes(office(), at(BERLIN, 2026, 12, 2), -1)
    with pytest.raises(CalendarError, match="Unknown timezone"):
        CalendarSpec.build(timezone="Mars/Olympus", hours={})
    closed = CalendarSpec.build(timezone="UTC", hours={})
    with pytest.raises(CalendarNeverOpen):
        add_business_minutes(closed, datetime(2026, 12, 2, tzinfo=UTC), 1)
    with pytest.raises(CalendarNeverOpen):
        next_opening(closed, datetime(2026, 12, 2, tzinfo=UTC))
    every_day_off = CalendarSpec.build(
        timezone="UTC",
        hours={"mon": [["09:00", "10:00"]]},
        yearly_holidays=[(m, d) for m in range(1, 13) for d in range(1, 32) if _valid(m, d)],
    )
    with pytest.raises(CalendarNeverOpen):
        add_business_minutes(every_day_off, datetime(2026, 12, 2, tzinfo=UTC), 1)


def _valid(month: int, day: int) -> bool:
    try:
        date(2000, month, day)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        ({"mon": [["09:00", "17:00"], ["16:00", "18:00"]]}, "overlaps"),
        ({"mon": [["17:00", "09:00"]]}, "ends before it starts"),
        ({"mon": [["09:00", "09:00"]]}, "ends before it starts"),
        ({"mon": [["9:00", "17:00"]]}, "HH:MM"),
        ({"mon": [["09:00", "24:30"]]}, "HH:MM|after 24:00"),
        ({"mon": [["24:00", "24:00"]]}, "cannot start at 24:00"),
        ({"monday": [["09:00", "17:00"]]}, "Unknown day"),
        ({"mon": [["09:00"]]}, "not a \\[start, end\\] pair"),
        ({"mon": "09:00-17:00"}, "list of"),
        ([["09:00", "17:00"]], "must be an object"),
    ],
)
def test_bad_hours_are_refused_with_the_reason(hours: object, message: str) -> None:
    with pytest.raises(CalendarError, match=message):
        parse_weekly_hours(hours)


def test_touching_segments_and_a_midnight_end_are_allowed() -> None:
    week = parse_weekly_hours({"fri": [["13:00", "24:00"], ["09:00", "13:00"]]})
    assert week[4] == ((540, 780), (780, 1440))
    assert week[0] == ()

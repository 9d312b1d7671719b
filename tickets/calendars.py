"""Business-time arithmetic: pure functions over an immutable `CalendarSpec`.

No database, no settings: the SLA engine, triggers and the API all call these, and the tests
hold them against a minute-by-minute reference.

What "business time" means here, exactly:
- An instant is open when its wall-clock time in the calendar's timezone, on its local date,
  falls inside one of that weekday's segments `[start, end)` and the local date is not a
  holiday. Segments are wall-clock, so a DST day is 23 or 25 hours long: `00:00–24:00` on the
  spring-forward day in Europe/Berlin holds 23 hours, on the fall-back day 25; a segment that
  covers the repeated hour counts both passes through it; a wall time the clocks skip opens
  nothing.
- Segments of consecutive days that meet at midnight are one stretch: a 24/7 calendar has no
  gap anywhere.
- `add_business_minutes(spec, start, m)` is the earliest instant `t >= start` with exactly `m`
  business minutes in `[start, t)`. Time that starts outside hours therefore starts at the next
  opening; a target that runs out exactly at a closing time is due at that closing time (17:00,
  not the next morning); `m == 0` gives `start` itself.
- `business_minutes_between(spec, start, end)` counts the business time in `[start, end)` in
  whole minutes, rounded down (59 s of business time is 0 minutes); `business_time_between`
  gives the exact `timedelta`. An `end` before `start` gives 0.
- Both are exact inverses: `business_minutes_between(spec, s, add_business_minutes(spec, s, m))
  == m`.

Speed: a day's open intervals are computed once per spec and date, and runs of seven days
without a UTC-offset change are summed from the weekly totals, so 100,000 minutes cost a few
hundred steps, not 100,000.
"""

from __future__ import annotations

import re
import zoneinfo
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60
_US = 1_000_000  # microseconds per second: instants are integer microseconds since the epoch
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DATE = date(1970, 1, 1)
# Instants of one local date lie within these bounds of its naive midnight (UTC offsets run
# from -12:00 to +14:00; local mean times of the past went a little further).
_SPAN_BEFORE = 16 * 3600
_SPAN_AFTER = 24 * 3600 + 16 * 3600
# A spec whose open days never come (every open weekday a holiday) must not loop forever.
_MAX_CLOSED_DAYS = 800

Segment = tuple[int, int]  # wall-clock minutes since local midnight, [start, end), end <= 1440
Interval = tuple[int, int]  # UTC microseconds since the epoch, [start, end)

_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


class CalendarError(ValueError):
    """A calendar definition that cannot be used (bad timezone, hours or holiday)."""


class CalendarNeverOpen(CalendarError):  # noqa: N818 - reads as the condition it names
    """The calendar has no business time ahead of the instant asked about."""


@lru_cache(maxsize=1)
def _timezone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_timezone(name: str) -> zoneinfo.ZoneInfo:
    """The IANA zone called `name`, or a `CalendarError` that says so."""
    if not isinstance(name, str) or name not in _timezone_names():
        raise CalendarError(f"Unknown timezone {name!r}: use an IANA name such as Europe/Berlin.")
    return zoneinfo.ZoneInfo(name)


def parse_hhmm(value: object, *, what: str) -> int:
    """ "09:30" → 570. "24:00" (midnight at the end of the day) is allowed; nothing later."""
    match = _HHMM.match(value) if isinstance(value, str) else None
    if match is None:
        raise CalendarError(f"{what}: {value!r} is not a time written HH:MM (00:00 to 24:00).")
    minutes = int(match.group(1)) * 60 + int(match.group(2))
    if minutes > MINUTES_PER_DAY:
        raise CalendarError(f"{what}: {value!r} is after 24:00.")
    return minutes


def format_hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_weekly_hours(hours: object) -> tuple[tuple[Segment, ...], ...]:
    """`{"mon": [["09:00", "17:00"]], ...}` → seven tuples of segments, Monday first.

    A day left out (or given an empty list) is closed. Within a day, segments must not overlap
    and each must end after it starts; they may touch (12:00–12:00 joins into one stretch).
    """
    if not isinstance(hours, Mapping):
        raise CalendarError('Hours must be an object such as {"mon": [["09:00", "17:00"]]}.')
    unknown = sorted(str(key) for key in hours if key not in WEEKDAYS)
    if unknown:
        raise CalendarError(f"Unknown day(s) {', '.join(unknown)}: use {', '.join(WEEKDAYS)}.")
    week: list[tuple[Segment, ...]] = []
    for day in WEEKDAYS:
        raw = hours.get(day) or []
        if not isinstance(raw, Sequence) or isinstance(raw, str):
            raise CalendarError(f"{day}: give a list of [start, end] pairs.")
        segments: list[Segment] = []
        for pair in raw:
            if not isinstance(pair, Sequence) or isinstance(pair, str) or len(pair) != 2:
                raise CalendarError(f"{day}: {pair!r} is not a [start, end] pair.")
            start = parse_hhmm(pair[0], what=f"{day} start")
            end = parse_hhmm(pair[1], what=f"{day} end")
            if start == MINUTES_PER_DAY:
                raise CalendarError(f"{day}: a segment cannot start at 24:00.")
            if end <= start:
                raise CalendarError(
                    f"{day}: {pair[0]}–{pair[1]} ends before it starts (write 24:00 for midnight)."
                )
            segments.append((start, end))
        segments.sort()
        for (s1, e1), (s2, e2) in zip(segments, segments[1:], strict=False):
            if s2 < e1:
                raise CalendarError(
                    f"{day}: {format_hhmm(s1)}–{format_hhmm(e1)} overlaps "
                    f"{format_hhmm(s2)}–{format_hhmm(e2)}."
                )
        week.append(tuple(segments))
    return tuple(week)


def weekly_hours_to_json(week: Sequence[Sequence[Segment]]) -> dict[str, list[list[str]]]:
    """The inverse of `parse_weekly_hours`: closed days are left out."""
    return {
        day: [[format_hhmm(s), format_hhmm(e)] for s, e in segments]
        for day, segments in zip(WEEKDAYS, week, strict=True)
        if segments
    }


@dataclass(frozen=True, slots=True)
class CalendarSpec:
    """Everything the arithmetic needs, immutable and hashable.

    `hours[0]` is Monday. `holidays` are single local dates; `yearly_holidays` are
    (month, day) pairs closed every year (29 February only in leap years).
    """

    timezone: str
    hours: tuple[tuple[Segment, ...], ...]
    holidays: frozenset[date] = frozenset()
    yearly_holidays: frozenset[tuple[int, int]] = frozenset()
    _tz: zoneinfo.ZoneInfo = field(init=False, repr=False, compare=False, hash=False)
    _week_seconds: tuple[int, ...] = field(init=False, repr=False, compare=False, hash=False)
    _sorted_holidays: tuple[date, ...] = field(init=False, repr=False, compare=False, hash=False)
    # Memo of each local date's open intervals: fills as dates are asked about.
    _days: dict[date, tuple[Interval, ...]] = field(
        init=False, repr=False, compare=False, hash=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_tz", check_timezone(self.timezone))
        if len(self.hours) != 7:
            raise CalendarError("Hours need seven days, Monday first.")
        for name, segments in zip(WEEKDAYS, self.hours, strict=True):
            previous_end = -1
            for start, end in segments:
                if not 0 <= start < end <= MINUTES_PER_DAY or start < previous_end:
                    raise CalendarError(f"{name}: segments must be sorted, inside the day, apart.")
                previous_end = end
        for month, day in self.yearly_holidays:
            try:
                date(2000, month, day)  # a leap year: accepts 29 February
            except ValueError as exc:
                raise CalendarError(f"{month:02d}-{day:02d} is not a day of the year.") from exc
        object.__setattr__(
            self, "_week_seconds", tuple(sum(e - s for s, e in segs) * 60 for segs in self.hours)
        )
        object.__setattr__(self, "_sorted_holidays", tuple(sorted(self.holidays)))

    @classmethod
    def build(
        cls,
        *,
        timezone: str,
        hours: object,
        holidays: Iterable[date] = (),
        yearly_holidays: Iterable[tuple[int, int]] = (),
    ) -> CalendarSpec:
        """From the JSON shape the API and the model use."""
        return cls(
            timezone=timezone,
            hours=parse_weekly_hours(hours),
            holidays=frozenset(holidays),
            yearly_holidays=frozenset(yearly_holidays),
        )

    @classmethod
    def always_open(cls, timezone: str = "UTC") -> CalendarSpec:
        """Calendar time: every minute counts (for targets measured in plain time)."""
        return cls(timezone=timezone, hours=(((0, MINUTES_PER_DAY),),) * 7)

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return self._tz

    @property
    def weekly_minutes(self) -> int:
        return sum(self._week_seconds) // 60

    def is_holiday(self, day: date) -> bool:
        return day in self.holidays or (day.month, day.day) in self.yearly_holidays


# --- instants -----------------------------------------------------------------------------------


def _to_us(instant: datetime, *, what: str = "instant") -> int:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise CalendarError(f"The {what} {instant.isoformat()} has no timezone (naive).")
    return (instant - _EPOCH) // timedelta(microseconds=1)


def _from_us(us: int, spec: CalendarSpec) -> datetime:
    return (_EPOCH + timedelta(microseconds=us)).astimezone(spec.tz)


def _local_date(us: int, spec: CalendarSpec) -> date:
    return _from_us(us, spec).date()


def _offset(tz: zoneinfo.ZoneInfo, ts: int) -> int:
    """UTC offset in seconds at the UTC instant `ts` (seconds)."""
    offset = datetime.fromtimestamp(ts, tz).utcoffset()
    assert offset is not None
    return int(offset.total_seconds())


def _transitions(
    tz: zoneinfo.ZoneInfo, lo: int, hi: int, off_lo: int, off_hi: int
) -> list[tuple[int, int]]:
    """(instant, new offset) of each offset change in (lo, hi], found by bisection."""
    if off_lo == off_hi:
        return []
    if hi - lo <= 1:
        return [(hi, off_hi)]
    mid = (lo + hi) // 2
    off_mid = _offset(tz, mid)
    return _transitions(tz, lo, mid, off_lo, off_mid) + _transitions(tz, mid, hi, off_mid, off_hi)


def _offset_pieces(tz: zoneinfo.ZoneInfo, lo: int, hi: int) -> list[tuple[int, int, int]]:
    """[(from, to, offset)] covering [lo, hi) in UTC seconds, one piece per constant offset."""
    off_lo, off_mid, off_hi = _offset(tz, lo), _offset(tz, (lo + hi) // 2), _offset(tz, hi)
    mid = (lo + hi) // 2
    changes = _transitions(tz, lo, mid, off_lo, off_mid) + _transitions(
        tz, mid, hi, off_mid, off_hi
    )
    pieces: list[tuple[int, int, int]] = []
    start, offset = lo, off_lo
    for at, new_offset in changes:
        pieces.append((start, at, offset))
        start, offset = at, new_offset
    pieces.append((start, hi, offset))
    return pieces


def _day_intervals(spec: CalendarSpec, day: date) -> tuple[Interval, ...]:
    """The UTC intervals in which `day` (a local date) is open, sorted. Memoised per spec."""
    cached = spec._days.get(day)
    if cached is not None:
        return cached
    segments = spec.hours[day.weekday()]
    if not segments or spec.is_holiday(day):
        result: tuple[Interval, ...] = ()
    else:
        # "wall" = local wall-clock time written as if it were UTC seconds since the epoch.
        midnight = (day - _EPOCH_DATE).days * 86400
        found: list[Interval] = []
        for p_from, p_to, offset in _offset_pieces(
            spec.tz, midnight - _SPAN_BEFORE, midnight + _SPAN_AFTER
        ):
            wall_from, wall_to = p_from + offset, p_to + offset
            for seg_start, seg_end in segments:
                lo = max(wall_from, midnight + seg_start * 60)
                hi = min(wall_to, midnight + seg_end * 60)
                if lo < hi:
                    found.append(((lo - offset) * _US, (hi - offset) * _US))
        found.sort()
        merged: list[Interval] = []
        for start, end in found:
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        result = tuple(merged)
    spec._days[day] = result
    return result


def _day_total(spec: CalendarSpec, day: date) -> int:
    return sum(end - start for start, end in _day_intervals(spec, day))


def _week_total(spec: CalendarSpec, first: date) -> int:
    """Open microseconds in the seven local dates from `first`: summed from the weekly hours
    when no UTC-offset change falls in them, else day by day."""
    midnight = (first - _EPOCH_DATE).days * 86400
    lo, hi = midnight - _SPAN_BEFORE, midnight + 6 * 86400 + _SPAN_AFTER
    tz = spec.tz
    if _offset(tz, lo) == _offset(tz, hi) == _offset(tz, (lo + hi) // 2):
        total = sum(spec._week_seconds)
        after = first + timedelta(days=7)
        singles = spec._sorted_holidays
        if spec.yearly_holidays or bisect_left(singles, first) != bisect_left(singles, after):
            for i in range(7):
                day = first + timedelta(days=i)
                if spec.is_holiday(day):
                    total -= spec._week_seconds[day.weekday()]
        return total * _US
    return sum(_day_total(spec, first + timedelta(days=i)) for i in range(7))


# --- the public functions -----------------------------------------------------------------------


def add_business_time(spec: CalendarSpec, start: datetime, amount: timedelta) -> datetime:
    """The earliest instant with `amount` of business time between `start` and it.

    Returned in the calendar's timezone. Raises `CalendarError` for a naive `start` or a
    negative amount, `CalendarNeverOpen` when the calendar has no open time ahead.
    """
    remaining = amount // timedelta(microseconds=1)
    if remaining < 0:
        raise CalendarError("A business-time amount cannot be negative.")
    cursor = _to_us(start, what="start")
    if remaining == 0:
        return start.astimezone(spec.tz)
    if not any(spec._week_seconds):
        raise CalendarNeverOpen("The calendar has no opening hours on any day.")
    day = _local_date(cursor, spec)
    for lo, hi in _day_intervals(spec, day):
        if hi <= cursor:
            continue
        lo = max(lo, cursor)
        if remaining <= hi - lo:
            return _from_us(lo + remaining, spec)
        remaining -= hi - lo
    day += timedelta(days=1)
    closed_days = 0
    try:
        while True:
            week = _week_total(spec, day)
            if week and week < remaining:
                remaining -= week
                day += timedelta(days=7)
                closed_days = 0
                continue
            for _ in range(7):
                for lo, hi in _day_intervals(spec, day):
                    if remaining <= hi - lo:
                        return _from_us(lo + remaining, spec)
                    remaining -= hi - lo
                day += timedelta(days=1)
            closed_days = closed_days + 7 if week == 0 else 0
            if closed_days > _MAX_CLOSED_DAYS:
                raise CalendarNeverOpen(
                    f"The calendar is closed every day from {day - timedelta(days=closed_days)}"
                    f" for over {_MAX_CLOSED_DAYS} days."
                )
    except OverflowError as exc:
        raise CalendarError("The due time would be after the year 9999.") from exc


def add_business_minutes(spec: CalendarSpec, start: datetime, minutes: int) -> datetime:
    """`start` plus `minutes` of business time (see the module docstring for the rules)."""
    return add_business_time(spec, start, timedelta(minutes=minutes))


def business_time_between(spec: CalendarSpec, start: datetime, end: datetime) -> timedelta:
    """Exact business time in `[start, end)`; zero when `end <= start`."""
    lo_us, hi_us = _to_us(start, what="start"), _to_us(end, what="end")
    if hi_us <= lo_us:
        return timedelta(0)
    first, last = _local_date(lo_us, spec), _local_date(hi_us, spec)

    def clipped(day: date) -> int:
        total = 0
        for lo, hi in _day_intervals(spec, day):
            lo, hi = max(lo, lo_us), min(hi, hi_us)
            if lo < hi:
                total += hi - lo
        return total

    if first == last:
        return timedelta(microseconds=clipped(first))
    total = clipped(first) + clipped(last)
    day = first + timedelta(days=1)
    while day + timedelta(days=7) <= last:
        total += _week_total(spec, day)
        day += timedelta(days=7)
    while day < last:
        total += _day_total(spec, day)
        day += timedelta(days=1)
    return timedelta(microseconds=total)


def business_minutes_between(spec: CalendarSpec, start: datetime, end: datetime) -> int:
    """Whole business minutes in `[start, end)`, rounded down; 0 when `end <= start`."""
    return business_time_between(spec, start, end) // timedelta(minutes=1)


def is_open(spec: CalendarSpec, at: datetime) -> bool:
    """Whether `at` falls within business hours (triggers' "within business hours")."""
    us = _to_us(at, what="instant")
    return any(lo <= us < hi for lo, hi in _day_intervals(spec, _local_date(us, spec)))


def next_opening(spec: CalendarSpec, at: datetime) -> datetime:
    """`at` itself when open, else the next instant the calendar opens (calendar timezone)."""
    us = _to_us(at, what="instant")
    if not any(spec._week_seconds):
        raise CalendarNeverOpen("The calendar has no opening hours on any day.")
    day = _local_date(us, spec)
    for _ in range(_MAX_CLOSED_DAYS + 2):
        for lo, hi in _day_intervals(spec, day):
            if hi > us:
                return _from_us(max(lo, us), spec)
        day += timedelta(days=1)
    raise CalendarNeverOpen(f"The calendar is closed for over {_MAX_CLOSED_DAYS} days after {at}.")

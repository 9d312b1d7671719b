"""Every change to a business calendar, one function per use case, each in one transaction.

Reads the SLA engine needs live here too: `calendar_spec(calendar)` (the immutable spec the
arithmetic in `tickets.calendars` runs on) and `calendar_for_group(group)`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import ngettext

from .calendar_import import (
    HolidayImport,
    HolidayImportError,
    HolidayInput,
    fetch_ical,
    holidays_from_country,
    holidays_from_ical,
)
from .calendar_models import Calendar, CalendarHoliday
from .calendars import (
    CalendarError,
    CalendarSpec,
    add_business_minutes,
    check_timezone,
    parse_weekly_hours,
)
from .calendars import weekly_hours_to_json as _to_json
from .models import Group

YEARLY_YEAR = 2000  # the year stored with a yearly holiday (a leap year: 29 February fits)


class CalendarServiceError(ValueError):
    """A change that cannot be made; the message is fit to show."""


# --- reads --------------------------------------------------------------------------------------

_SPECS: dict[CalendarSpec, CalendarSpec] = {}
_SPECS_MAX = 256


def calendar_spec(calendar: Calendar) -> CalendarSpec:
    """The calendar as an immutable spec. Costs one query for the holidays unless they were
    prefetched (`prefetch_related("holidays")`). Equal specs come back as the same object, so
    the per-day memo inside it is shared by every caller of this process."""
    holidays = list(calendar.holidays.all())
    spec = CalendarSpec(
        timezone=calendar.timezone,
        hours=parse_weekly_hours(calendar.hours),
        holidays=frozenset(h.date for h in holidays if not h.yearly),
        yearly_holidays=frozenset((h.date.month, h.date.day) for h in holidays if h.yearly),
    )
    known = _SPECS.get(spec)
    if known is not None:
        return known
    if len(_SPECS) >= _SPECS_MAX:
        _SPECS.clear()
    _SPECS[spec] = spec
    return spec


def default_calendar() -> Calendar | None:
    return Calendar.objects.filter(is_default=True).prefetch_related("holidays").first()


def calendar_for_group(group: Group | None) -> Calendar | None:
    """The group's own calendar, else the default one, else None (plain calendar time)."""
    if group is not None and group.calendar_id is not None:
        return Calendar.objects.prefetch_related("holidays").get(pk=group.calendar_id)
    return default_calendar()


def calendar_spec_for_group(group: Group | None) -> CalendarSpec:
    """The spec a group's business-time targets count in: its calendar, else the default,
    else round-the-clock UTC (plain calendar time)."""
    calendar = calendar_for_group(group)
    return calendar_spec(calendar) if calendar is not None else CalendarSpec.always_open()


def calendars_for_listing() -> QuerySet[Calendar]:
    return Calendar.objects.prefetch_related("holidays", "groups")


# --- writes -------------------------------------------------------------------------------------


def _clean(name: str, tz: str, hours: object) -> tuple[str, str, dict[str, list[list[str]]]]:
    name = name.strip()
    if not name:
        raise CalendarServiceError("A calendar needs a name.")
    try:
        check_timezone(tz)
        canonical = _to_json(parse_weekly_hours(hours))
    except CalendarError as exc:
        raise CalendarServiceError(str(exc)) from exc
    return name, tz, canonical


def _stored_date(holiday: HolidayInput) -> date:
    if holiday.yearly:
        return holiday.date.replace(year=YEARLY_YEAR)
    return holiday.date


def _replace_holidays(calendar: Calendar, holidays: Sequence[HolidayInput]) -> None:
    """Make the calendar's holidays exactly `holidays`, keeping the source of those kept."""
    wanted: dict[date, HolidayInput] = {}
    for holiday in holidays:
        wanted[_stored_date(holiday)] = holiday
    existing = {h.date: h for h in calendar.holidays.all()}
    CalendarHoliday.objects.filter(calendar=calendar).exclude(date__in=list(wanted)).delete()
    for day, holiday in wanted.items():
        row = existing.get(day)
        # a bare date (the API's "2026-12-25") keeps the name the holiday has already
        name = holiday.name.strip()[:200] or (row.name if row is not None else "")
        if row is None:
            CalendarHoliday.objects.create(
                calendar=calendar, date=day, name=name, yearly=holiday.yearly
            )
        elif (row.name, row.yearly) != (name, holiday.yearly):
            row.name, row.yearly = name, holiday.yearly
            row.save(update_fields=["name", "yearly"])


def _touch(calendar: Calendar) -> None:
    calendar.updated_at = timezone.now()
    calendar.save(update_fields=["updated_at"])


@transaction.atomic
def calendar_create(
    *,
    name: str,
    timezone_name: str,
    hours: object,
    holidays: Sequence[HolidayInput] = (),
    is_default: bool = False,
    groups: Iterable[Group] = (),
) -> Calendar:
    name, tz, canonical = _clean(name, timezone_name, hours)
    if Calendar.objects.filter(name__iexact=name).exists():
        raise CalendarServiceError(f"A calendar named {name!r} exists already.")
    calendar = Calendar.objects.create(name=name, timezone=tz, hours=canonical)
    _replace_holidays(calendar, holidays)
    if is_default:
        calendar_set_default(calendar=calendar)
    calendar_assign_groups(calendar=calendar, groups=groups)
    return calendar


@transaction.atomic
def calendar_update(
    *,
    calendar: Calendar,
    name: str,
    timezone_name: str,
    hours: object,
    holidays: Sequence[HolidayInput],
) -> Calendar:
    """Replace name, timezone, hours and holidays (the API's PATCH fills in the rest first)."""
    name, tz, canonical = _clean(name, timezone_name, hours)
    if Calendar.objects.filter(name__iexact=name).exclude(pk=calendar.pk).exists():
        raise CalendarServiceError(f"A calendar named {name!r} exists already.")
    calendar.name, calendar.timezone, calendar.hours = name, tz, canonical
    calendar.updated_at = timezone.now()
    calendar.save(update_fields=["name", "timezone", "hours", "updated_at"])
    _replace_holidays(calendar, holidays)
    return calendar


@transaction.atomic
def calendar_delete(*, calendar: Calendar) -> None:
    """Groups that used it fall back to the default calendar."""
    calendar.delete()


@transaction.atomic
def calendar_set_default(*, calendar: Calendar) -> Calendar:
    """Make `calendar` the one default (locks the current default so two admins cannot make
    two; the partial unique index refuses it anyway)."""
    list(Calendar.objects.select_for_update().filter(is_default=True))
    Calendar.objects.filter(is_default=True).exclude(pk=calendar.pk).update(is_default=False)
    calendar.is_default = True
    calendar.updated_at = timezone.now()
    try:
        with transaction.atomic():
            calendar.save(update_fields=["is_default", "updated_at"])
    except IntegrityError as exc:
        raise CalendarServiceError("Another calendar became the default meanwhile.") from exc
    return calendar


@transaction.atomic
def calendar_unset_default(*, calendar: Calendar) -> Calendar:
    calendar.is_default = False
    calendar.updated_at = timezone.now()
    calendar.save(update_fields=["is_default", "updated_at"])
    return calendar


@transaction.atomic
def calendar_assign_groups(*, calendar: Calendar, groups: Iterable[Group]) -> None:
    """Exactly `groups` use this calendar afterwards (others it had fall back to the default)."""
    ids = {group.pk for group in groups}
    Group.objects.filter(calendar=calendar).exclude(pk__in=ids).update(calendar=None)
    Group.objects.filter(pk__in=ids).update(calendar=calendar)


@transaction.atomic
def calendar_holidays_add(
    *, calendar: Calendar, holidays: Sequence[HolidayInput], source: str
) -> int:
    """Add holidays, leaving dates the calendar has already as they are. Returns how many
    were new (running the same import twice adds nothing the second time)."""
    taken = set(calendar.holidays.values_list("date", flat=True))
    rows = []
    for holiday in holidays:
        day = _stored_date(holiday)
        if day in taken:
            continue
        taken.add(day)
        rows.append(
            CalendarHoliday(
                calendar=calendar,
                date=day,
                name=holiday.name.strip()[:200],
                yearly=holiday.yearly,
                source=source,
            )
        )
    CalendarHoliday.objects.bulk_create(rows)
    if rows:
        _touch(calendar)
    return len(rows)


@transaction.atomic
def calendar_holiday_remove(*, calendar: Calendar, holiday_id: int) -> None:
    deleted, _ = CalendarHoliday.objects.filter(calendar=calendar, pk=holiday_id).delete()
    if not deleted:
        raise CalendarServiceError("That holiday is not on this calendar.")
    _touch(calendar)


def _imported(calendar: Calendar, found: HolidayImport, source: str) -> tuple[int, HolidayImport]:
    return calendar_holidays_add(calendar=calendar, holidays=found.holidays, source=source), found


def calendar_import_ical(*, calendar: Calendar, data: bytes) -> tuple[int, HolidayImport]:
    """Holidays from an iCal file. Returns (how many were new, what the file held)."""
    try:
        found = holidays_from_ical(data)
    except HolidayImportError as exc:
        raise CalendarServiceError(str(exc)) from exc
    return _imported(calendar, found, CalendarHoliday.Source.ICAL)


def calendar_import_ical_url(*, calendar: Calendar, url: str) -> tuple[int, HolidayImport]:
    """Holidays from an iCal feed; fetched before the transaction opens."""
    try:
        data = fetch_ical(url)
    except HolidayImportError as exc:
        raise CalendarServiceError(str(exc)) from exc
    return calendar_import_ical(calendar=calendar, data=data)


def calendar_add_country_preset(
    *, calendar: Calendar, country: str, subdivision: str = "", years: list[int]
) -> tuple[int, HolidayImport]:
    try:
        found = holidays_from_country(country, subdivision=subdivision, years=years)
    except HolidayImportError as exc:
        raise CalendarServiceError(str(exc)) from exc
    return _imported(calendar, found, CalendarHoliday.Source.PRESET)


# --- previews -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DuePreview:
    """ "A ticket at `start` with a target of `minutes` business minutes is due `due`."""

    start: datetime
    minutes: int
    due: datetime | None
    error: str = ""

    @property
    def target_label(self) -> str:
        return minutes_label(self.minutes)


def minutes_label(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    if not hours:
        return ngettext("%(n)d minute", "%(n)d minutes", rest) % {"n": rest}
    text = ngettext("%(n)d hour", "%(n)d hours", hours) % {"n": hours}
    if rest:
        text += " " + ngettext("%(n)d minute", "%(n)d minutes", rest) % {"n": rest}
    return text


def calendar_preview(spec: CalendarSpec, *, start: datetime, minutes: int) -> DuePreview:
    try:
        due = add_business_minutes(spec, start, minutes)
    except CalendarError as exc:
        return DuePreview(start.astimezone(spec.tz), minutes, None, str(exc))
    return DuePreview(start.astimezone(spec.tz), minutes, due)


def calendar_preview_examples(spec: CalendarSpec, *, now: datetime) -> list[DuePreview]:
    """Typical targets from now, and the Friday-afternoon case everyone gets wrong."""
    local_now = now.astimezone(spec.tz).replace(second=0, microsecond=0)
    days_to_friday = (4 - local_now.weekday()) % 7
    friday = (local_now + timedelta(days=days_to_friday)).replace(hour=16, minute=30)
    return [
        calendar_preview(spec, start=local_now, minutes=60),
        calendar_preview(spec, start=local_now, minutes=8 * 60),
        calendar_preview(spec, start=friday, minutes=60),
        calendar_preview(spec, start=friday, minutes=3 * 8 * 60),
    ]

"""Forms of the desk's calendar pages. The weekly hours and the holidays arrive as parallel
lists (`hours-mon-start`, `hours-mon-end`, `holiday-date`, ...) so a day can hold any number
of segments; these forms turn them into what the services take and keep what was typed for
the page to show again when something is wrong."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django import forms
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from .calendar_import import HolidayInput, country_choices
from .calendars import WEEKDAYS, CalendarError, parse_weekly_hours, weekly_hours_to_json
from .calendars import _timezone_names as timezone_names
from .models import Group

DAY_NAMES = {
    "mon": _("Monday"),
    "tue": _("Tuesday"),
    "wed": _("Wednesday"),
    "thu": _("Thursday"),
    "fri": _("Friday"),
    "sat": _("Saturday"),
    "sun": _("Sunday"),
}


@dataclass(frozen=True, slots=True)
class DayRow:
    key: str
    label: str
    segments: list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class HolidayRow:
    date: str
    name: str
    yearly: bool


def _timezone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(timezone_names())]


class CalendarForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    timezone = forms.ChoiceField(
        label=_("Timezone"),
        choices=_timezone_choices,
        help_text=_("Opening hours are wall-clock times in this zone, summer time included."),
    )
    make_default = forms.BooleanField(
        label=_("Default calendar"),
        required=False,
        help_text=_("Used by every group that has no calendar of its own."),
    )
    groups = forms.ModelMultipleChoiceField(
        label=_("Groups"),
        queryset=Group.objects.all(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Their targets count in these hours."),
    )

    def __init__(self, data: QueryDict | None = None, **kwargs: Any) -> None:
        self.initial_hours: dict[str, list[list[str]]] = kwargs.pop("hours", {})
        self.initial_holidays: list[HolidayRow] = kwargs.pop("holidays", [])
        super().__init__(data, **kwargs)
        self.hours_json: dict[str, list[list[str]]] = {}
        self.holidays: list[HolidayInput] = []
        self.hours_error = ""
        self.holiday_errors: list[str] = []

    # --- what the page shows -------------------------------------------------------------

    def _posted(self, key: str) -> list[str]:
        data = self.data
        if isinstance(data, QueryDict):
            return [str(value) for value in data.getlist(key)]
        value = data.get(key, [])
        return [str(v) for v in value] if isinstance(value, list) else [str(value)]

    def day_rows(self) -> list[DayRow]:
        rows = []
        for key in WEEKDAYS:
            if self.is_bound:
                starts = self._posted(f"hours-{key}-start")
                ends = self._posted(f"hours-{key}-end")
                segments = [(s, e) for s, e in zip(starts, ends, strict=False) if s or e]
            else:
                segments = [(s, e) for s, e in self.initial_hours.get(key, [])]
            rows.append(DayRow(key, str(DAY_NAMES[key]), segments))
        return rows

    def holiday_rows(self) -> list[HolidayRow]:
        if not self.is_bound:
            return self.initial_holidays
        days = self._posted("holiday-date")
        names = self._posted("holiday-name")
        repeats = self._posted("holiday-repeat")
        rows = []
        for i, day in enumerate(days):
            name = names[i] if i < len(names) else ""
            yearly = (repeats[i] if i < len(repeats) else "") == "yearly"
            if day.strip() or name.strip():
                rows.append(HolidayRow(day.strip(), name.strip(), yearly))
        return rows

    # --- validation ----------------------------------------------------------------------

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        raw = {row.key: [list(segment) for segment in row.segments] for row in self.day_rows()}
        try:
            self.hours_json = weekly_hours_to_json(parse_weekly_hours(raw))
        except CalendarError as exc:
            self.hours_error = str(exc)
        for row in self.holiday_rows():
            try:
                day = date.fromisoformat(row.date)
            except ValueError:
                self.holiday_errors.append(
                    str(_("“%(value)s” is not a date (YYYY-MM-DD).")) % {"value": row.date}
                )
                continue
            self.holidays.append(HolidayInput(day, row.name[:200], row.yearly))
        if self.hours_error or self.holiday_errors:
            raise forms.ValidationError(_("Please correct the hours or holidays below."))
        return cleaned


class IcalImportForm(forms.Form):
    file = forms.FileField(label=_("iCal file (.ics)"), required=False)
    url = forms.URLField(
        label=_("or the address of a feed"),
        required=False,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"placeholder": "https://…/holidays.ics"}),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not cleaned.get("file") and not cleaned.get("url"):
            raise forms.ValidationError(_("Choose an .ics file or give the address of a feed."))
        return cleaned


def _year_choices() -> list[tuple[int, int]]:
    this_year = datetime.now().year  # noqa: DTZ005 - the year only
    return [(year, year) for year in range(this_year - 1, this_year + 4)]


class CountryPresetForm(forms.Form):
    country = forms.ChoiceField(label=_("Country"), choices=country_choices)
    subdivision = forms.CharField(
        label=_("Region (optional)"),
        required=False,
        max_length=10,
        help_text=_("State or province code, such as BY for Bavaria or CA for California."),
    )
    years = forms.TypedMultipleChoiceField(
        label=_("Years"),
        choices=_year_choices,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
    )


class PreviewForm(forms.Form):
    start = forms.DateTimeField(
        label=_("A ticket at"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    minutes = forms.IntegerField(
        label=_("with a target of (business minutes)"), min_value=0, max_value=10 * 366 * 24 * 60
    )


SHORT_DAYS = {
    "mon": _("Mon"),
    "tue": _("Tue"),
    "wed": _("Wed"),
    "thu": _("Thu"),
    "fri": _("Fri"),
    "sat": _("Sat"),
    "sun": _("Sun"),
}


def hours_summary(hours: dict[str, list[list[str]]]) -> list[str]:
    """ "Mon–Fri 09:00–17:00", one line per run of days with the same segments."""
    lines: list[str] = []
    run: list[str] = []

    def close(run: list[str]) -> None:
        if not run or not hours.get(run[0]):
            return
        days = str(SHORT_DAYS[run[0]])
        if len(run) > 1:
            days += "–" + str(SHORT_DAYS[run[-1]])
        segments = ", ".join(f"{s}–{e}" for s, e in hours[run[0]])
        lines.append(f"{days} {segments}")

    for day in WEEKDAYS:
        if run and hours.get(day) != hours.get(run[0]):
            close(run)
            run = []
        run.append(day)
    close(run)
    return lines or [str(_("Closed every day"))]

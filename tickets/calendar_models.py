"""Business calendars: opening hours per weekday in a timezone, and the days they are closed.

The rows hold what an admin typed; `tickets.calendar_services.calendar_spec` turns one into the
immutable `tickets.calendars.CalendarSpec` that all arithmetic runs on.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone as django_timezone
from django.utils.translation import gettext_lazy as _

from .calendars import CalendarError, check_timezone, parse_weekly_hours


def _validate_timezone(value: str) -> None:
    try:
        check_timezone(value)
    except CalendarError as exc:
        raise ValidationError(str(exc)) from exc


def _validate_hours(value: object) -> None:
    try:
        parse_weekly_hours(value)
    except CalendarError as exc:
        raise ValidationError(str(exc)) from exc


class Calendar(models.Model):
    """Business hours: `hours` is `{"mon": [["09:00", "17:00"]], ...}` in wall-clock time of
    `timezone`; a day left out is closed, "24:00" is the midnight that ends the day."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    timezone = models.CharField(
        _("timezone"),
        max_length=64,
        validators=[_validate_timezone],
        help_text=_("IANA name, such as Europe/Berlin."),
    )
    hours = models.JSONField(_("weekly hours"), default=dict, validators=[_validate_hours])
    is_default = models.BooleanField(
        _("default"),
        default=False,
        help_text=_("Used by every group that has no calendar of its own."),
    )
    created_at = models.DateTimeField(default=django_timezone.now)
    updated_at = models.DateTimeField(default=django_timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="calendar_one_default"
            )
        ]

    def __str__(self) -> str:
        return self.name


class CalendarHoliday(models.Model):
    """A closed local date; `yearly` closes the same month and day every year from then on."""

    class Source(models.TextChoices):
        MANUAL = "manual", _("Entered")
        ICAL = "ical", _("iCal import")
        PRESET = "preset", _("Country preset")

    calendar = models.ForeignKey(Calendar, on_delete=models.CASCADE, related_name="holidays")
    date = models.DateField(_("date"))
    name = models.CharField(_("name"), max_length=200, blank=True)
    yearly = models.BooleanField(_("every year"), default=False)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.MANUAL)

    class Meta:
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(fields=["calendar", "date"], name="calendar_holiday_unique")
        ]

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d} {self.name}".strip()

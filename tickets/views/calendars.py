"""The desk's calendar pages, for admins: list, create and edit (weekly hours, holidays,
groups, default), import holidays, and preview when a target falls due."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import calendar_services as services
from ..calendar_forms import (
    CalendarForm,
    CountryPresetForm,
    HolidayRow,
    IcalImportForm,
    PreviewForm,
    hours_summary,
)
from ..calendar_import import HolidayImport, country_for_timezone
from ..calendar_models import Calendar
from ..roles import is_admin

MAX_UPLOAD_BYTES = 2 * 1024 * 1024


def _gate(request: HttpRequest) -> HttpResponse | None:
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not is_admin(request.user):
        raise PermissionDenied(_("Business calendars are managed by admins."))
    return None


def _calendar(calendar_id: int) -> Calendar:
    return get_object_or_404(services.calendars_for_listing(), pk=calendar_id)


def _next_occurrence(day: date, today: date) -> date:
    """A yearly holiday is stored in the year 2000: show the next time it comes round."""
    for year in (today.year, today.year + 1, today.year + 4):
        try:
            candidate = day.replace(year=year)
        except ValueError:  # 29 February
            continue
        if candidate >= today:
            return candidate
    return day


def _holiday_rows(calendar: Calendar) -> list[HolidayRow]:
    today = timezone.localdate()
    rows = [
        HolidayRow(
            (_next_occurrence(h.date, today) if h.yearly else h.date).isoformat(), h.name, h.yearly
        )
        for h in calendar.holidays.all()
    ]
    return sorted(rows, key=lambda row: row.date)


def _preview(calendar: Calendar, data: Any) -> tuple[PreviewForm, services.DuePreview | None]:
    spec = services.calendar_spec(calendar)
    if data is None or "start" not in data:
        now = timezone.now().astimezone(spec.tz)
        form = PreviewForm(initial={"start": now.replace(second=0, microsecond=0), "minutes": 60})
        return form, None
    with timezone.override(spec.tz):
        form = PreviewForm(data)
        if not form.is_valid():
            return form, None
    start: datetime = form.cleaned_data["start"]
    return form, services.calendar_preview(spec, start=start, minutes=form.cleaned_data["minutes"])


@require_GET
def calendar_list(request: HttpRequest) -> HttpResponse:
    if (denied := _gate(request)) is not None:
        return denied
    rows = [(c, hours_summary(c.hours)) for c in services.calendars_for_listing()]
    return render(request, "tickets/calendars.html", {"rows": rows})


def _save(request: HttpRequest, form: CalendarForm, calendar: Calendar | None) -> Calendar:
    data = form.cleaned_data
    with transaction.atomic():
        if calendar is None:
            calendar = services.calendar_create(
                name=data["name"],
                timezone_name=data["timezone"],
                hours=form.hours_json,
                holidays=form.holidays,
            )
        else:
            services.calendar_update(
                calendar=calendar,
                name=data["name"],
                timezone_name=data["timezone"],
                hours=form.hours_json,
                holidays=form.holidays,
            )
        if data["make_default"] and not calendar.is_default:
            services.calendar_set_default(calendar=calendar)
        elif calendar.is_default and not data["make_default"]:
            services.calendar_unset_default(calendar=calendar)
        services.calendar_assign_groups(calendar=calendar, groups=data["groups"])
    return calendar


def _edit_page(request: HttpRequest, form: CalendarForm, calendar: Calendar | None) -> HttpResponse:
    context: dict[str, Any] = {"form": form, "calendar": calendar}
    if calendar is not None:
        context["preview_form"], context["preview"] = _preview(calendar, request.GET or None)
        context["ical_form"] = IcalImportForm()
        context["preset_form"] = CountryPresetForm(
            initial={
                "country": country_for_timezone(calendar.timezone),
                "years": [timezone.localdate().year, timezone.localdate().year + 1],
            }
        )
    return render(request, "tickets/calendar_form.html", context)


@require_http_methods(["GET", "POST"])
def calendar_new(request: HttpRequest) -> HttpResponse:
    if (denied := _gate(request)) is not None:
        return denied
    weekdays = {day: [["09:00", "17:00"]] for day in ["mon", "tue", "wed", "thu", "fri"]}
    form = CalendarForm(
        request.POST or None,
        hours=weekdays,
        initial={"timezone": timezone.get_current_timezone_name()},
    )
    if request.method == "POST" and form.is_valid():
        try:
            calendar = _save(request, form, None)
        except services.CalendarServiceError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Calendar %(name)s created.") % {"name": calendar.name})
            return redirect("desk:calendar_edit", calendar_id=calendar.pk)
    return _edit_page(request, form, None)


@require_http_methods(["GET", "POST"])
def calendar_edit(request: HttpRequest, calendar_id: int) -> HttpResponse:
    if (denied := _gate(request)) is not None:
        return denied
    calendar = _calendar(calendar_id)
    form = CalendarForm(
        request.POST or None,
        hours=calendar.hours,
        holidays=_holiday_rows(calendar),
        initial={
            "name": calendar.name,
            "timezone": calendar.timezone,
            "make_default": calendar.is_default,
            "groups": list(calendar.groups.all()),
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            _save(request, form, calendar)
        except services.CalendarServiceError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Calendar %(name)s saved.") % {"name": calendar.name})
            return redirect("desk:calendar_edit", calendar_id=calendar.pk)
    return _edit_page(request, form, calendar)


@require_GET
def calendar_preview(request: HttpRequest, calendar_id: int) -> HttpResponse:
    """The due-time preview alone (htmx swaps it in as the admin types)."""
    if (denied := _gate(request)) is not None:
        return denied
    calendar = _calendar(calendar_id)
    form, preview = _preview(calendar, request.GET)
    return render(
        request,
        "tickets/_calendar_preview.html",
        {"calendar": calendar, "preview_form": form, "preview": preview},
    )


def _report_import(request: HttpRequest, added: int, found: HolidayImport) -> None:
    messages.success(
        request,
        ngettext(
            "%(added)d holiday added (%(found)d found).",
            "%(added)d holidays added (%(found)d found).",
            added,
        )
        % {"added": added, "found": len(found.holidays)},
    )
    if found.skipped:
        messages.warning(request, _("Left out: %(list)s") % {"list": "; ".join(found.skipped)})


@require_POST
def calendar_import(request: HttpRequest, calendar_id: int) -> HttpResponse:
    if (denied := _gate(request)) is not None:
        return denied
    calendar = _calendar(calendar_id)
    form = IcalImportForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
        return redirect("desk:calendar_edit", calendar_id=calendar.pk)
    upload = form.cleaned_data.get("file")
    try:
        if upload is not None:
            if upload.size > MAX_UPLOAD_BYTES:
                raise services.CalendarServiceError(_("The iCal file is larger than 2 MB."))
            added, found = services.calendar_import_ical(calendar=calendar, data=upload.read())
        else:
            added, found = services.calendar_import_ical_url(
                calendar=calendar, url=form.cleaned_data["url"]
            )
    except services.CalendarServiceError as exc:
        messages.error(request, str(exc))
    else:
        _report_import(request, added, found)
    return redirect("desk:calendar_edit", calendar_id=calendar.pk)


@require_POST
def calendar_preset(request: HttpRequest, calendar_id: int) -> HttpResponse:
    if (denied := _gate(request)) is not None:
        return denied
    calendar = _calendar(calendar_id)
    form = CountryPresetForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
        return redirect("desk:calendar_edit", calendar_id=calendar.pk)
    try:
        added, found = services.calendar_add_country_preset(
            calendar=calendar,
            country=form.cleaned_data["country"],
            subdivision=form.cleaned_data["subdivision"],
            years=form.cleaned_data["years"],
        )
    except services.CalendarServiceError as exc:
        messages.error(request, str(exc))
    else:
        _report_import(request, added, found)
    return redirect("desk:calendar_edit", calendar_id=calendar.pk)


@require_POST
def calendar_default(request: HttpRequest, calendar_id: int) -> HttpResponse:
    if (denied := _gate(request)) is not None:
        return denied
    calendar = services.calendar_set_default(calendar=_calendar(calendar_id))
    messages.success(request, _("%(name)s is now the default calendar.") % {"name": calendar.name})
    return redirect("desk:calendars")


@require_POST
def calendar_delete(request: HttpRequest, calendar_id: int) -> HttpResponse:
    if (denied := _gate(request)) is not None:
        return denied
    calendar = _calendar(calendar_id)
    name = calendar.name
    services.calendar_delete(calendar=calendar)
    messages.success(request, _("Calendar %(name)s deleted.") % {"name": name})
    return redirect("desk:calendars")

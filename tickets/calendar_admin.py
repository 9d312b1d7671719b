"""Django admin for business calendars: hours as JSON, holidays inline, and a due-time preview."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from . import calendar_services as services
from .calendar_models import Calendar, CalendarHoliday
from .calendars import CalendarError


class CalendarHolidayInline(admin.TabularInline):
    model = CalendarHoliday
    extra = 1
    fields = ("date", "name", "yearly", "source")


class CalendarAdminForm(forms.ModelForm):
    # Not the model field: the one default moves through the service, which the unique
    # index's form validation would otherwise refuse before it runs.
    make_default = forms.BooleanField(
        required=False,
        label=_("default"),
        help_text=_("Used by every group that has no calendar of its own."),
    )

    class Meta:
        model = Calendar
        fields = ["name", "timezone", "hours"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["make_default"].initial = self.instance.is_default


def _when(value: Any) -> str:
    return f"{formats.date_format(value, 'D j M Y H:i')}"


@admin.register(Calendar)
class CalendarAdmin(admin.ModelAdmin):
    list_display = ("name", "timezone", "is_default", "group_names", "holiday_count")
    search_fields = ("name",)
    inlines = [CalendarHolidayInline]
    readonly_fields = ("preview", "created_at", "updated_at")
    form = CalendarAdminForm
    fields = ("name", "timezone", "hours", "make_default", "preview", "created_at", "updated_at")

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).prefetch_related("groups", "holidays")

    @admin.display(description=_("groups"))
    def group_names(self, obj: Calendar) -> str:
        return ", ".join(group.name for group in obj.groups.all()) or "—"

    @admin.display(description=_("holidays"))
    def holiday_count(self, obj: Calendar) -> int:
        return len(obj.holidays.all())

    @admin.display(description=_("preview"))
    def preview(self, obj: Calendar) -> str:
        if obj.pk is None:
            return gettext("Save the calendar to see when targets fall due.")
        try:
            spec = services.calendar_spec(obj)
        except CalendarError as exc:
            return str(exc)
        rows = []
        for example in services.calendar_preview_examples(spec, now=timezone.now()):
            due = _when(example.due) if example.due is not None else example.error
            rows.append(
                (
                    gettext("A ticket at %(start)s with a target of %(target)s is due %(due)s.")
                    % {"start": _when(example.start), "target": example.target_label, "due": due},
                )
            )
        return format_html(
            "<ul>{}</ul><p>{}</p>",
            format_html_join("", "<li>{}</li>", rows),
            gettext("Times in %(tz)s.") % {"tz": obj.timezone},
        )

    def save_model(
        self, request: HttpRequest, obj: Calendar, form: forms.ModelForm, change: bool
    ) -> None:
        obj.updated_at = timezone.now()
        super().save_model(request, obj, form, change)
        wants_default = form.cleaned_data.get("make_default", False)
        if wants_default and not obj.is_default:
            services.calendar_set_default(calendar=obj)
        elif obj.is_default and not wants_default:
            services.calendar_unset_default(calendar=obj)


@admin.register(CalendarHoliday)
class CalendarHolidayAdmin(admin.ModelAdmin):
    list_display = ("date", "name", "yearly", "calendar", "source")
    list_filter = ("yearly", "source", "calendar")
    list_select_related = ("calendar",)
    search_fields = ("name",)
    date_hierarchy = "date"

    def save_model(
        self, request: HttpRequest, obj: CalendarHoliday, form: forms.ModelForm, change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        Calendar.objects.filter(pk=obj.calendar_id).update(updated_at=timezone.now())

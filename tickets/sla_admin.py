"""The Django admin for SLA policies (saved through the same services and checks as the desk
and the API) and, read-only, what they gave each ticket."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from .sla_models import SlaMilestone, SlaPolicy, SlaTarget
from .sla_services import (
    PolicyInput,
    SlaPolicyError,
    _clean_policy,
    sla_policy_create,
    sla_policy_delete,
    sla_policy_update,
)

# Ticket columns only the SLA services write.
SLA_COLUMNS = (
    "sla_policy",
    "first_reply_due_at",
    "next_reply_due_at",
    "resolution_due_at",
    "sla_due_at",
    "sla_next_due_at",
    "sla_breached",
)


def _input(data: dict[str, Any]) -> PolicyInput:
    calendar = data.get("calendar")
    return PolicyInput(
        name=data.get("name") or "",
        position=data.get("position"),
        conditions=data.get("conditions") or {},
        calendar_id=calendar.pk if calendar is not None else None,
        targets=data.get("targets") or {},
        pause_on=data.get("pause_on") if data.get("pause_on") is not None else [],
        pause_targets=data.get("pause_targets") if data.get("pause_targets") is not None else [],
        active=bool(data.get("active")),
    )


class SlaPolicyAdminForm(forms.ModelForm):
    class Meta:
        model = SlaPolicy
        fields = [
            "name",
            "position",
            "active",
            "conditions",
            "calendar",
            "targets",
            "pause_on",
            "pause_targets",
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors:
            try:
                _clean_policy(_input(data), instance=self.instance if self.instance.pk else None)
            except SlaPolicyError as exc:
                field = exc.field if exc.field in self.fields else None
                self.add_error(field, str(exc))
        return data


@admin.register(SlaPolicy)
class SlaPolicyAdmin(admin.ModelAdmin):
    form = SlaPolicyAdminForm
    list_display = ("name", "position", "active", "calendar", "updated_at")
    list_editable = ("position",)
    list_select_related = ("calendar",)
    ordering = ("position", "id")

    def save_model(self, request: HttpRequest, obj: SlaPolicy, form: Any, change: bool) -> None:
        data = _input(form.cleaned_data)
        if change and obj.pk:
            saved = sla_policy_update(policy=obj, data=data)
        else:
            saved = sla_policy_create(data=data)
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: SlaPolicy) -> None:
        sla_policy_delete(policy=obj)


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SlaTarget)
class SlaTargetAdmin(_ReadOnly):
    list_display = ("ticket", "metric", "cycle", "due_at", "completed_at", "breached_at")
    list_filter = ("metric",)
    list_select_related = ("ticket",)
    search_fields = ("=ticket__number",)
    show_full_result_count = False


@admin.register(SlaMilestone)
class SlaMilestoneAdmin(_ReadOnly):
    list_display = ("ticket", "metric", "cycle", "kind", "at", "recorded_at")
    list_filter = ("kind", "metric")
    list_select_related = ("ticket",)
    search_fields = ("=ticket__number",)
    show_full_result_count = False

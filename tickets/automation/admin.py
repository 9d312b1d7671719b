"""Django admin for automation: rules are validated by the same parser the engine runs; runs
and webhook calls are history, read-only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from .models import AutomationRule, TimeRun, TriggerRun, WebhookCall
from .rules import RuleError, parse_rule


class AutomationRuleForm(forms.ModelForm):
    class Meta:
        model = AutomationRule
        fields = [
            "name",
            "kind",
            "position",
            "active",
            "events",
            "match",
            "conditions",
            "actions",
            "stop",
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            parsed = parse_rule(
                kind=data.get("kind", ""),
                events=data.get("events") or [],
                match=data.get("match", ""),
                conditions=data.get("conditions") or [],
                actions=data.get("actions") or [],
            )
        except RuleError as exc:
            raise forms.ValidationError(str(exc)) from None
        data["events"] = parsed.events
        data["conditions"] = [
            {"field": c.field, "op": c.op, "value": c.value} for c in parsed.conditions
        ]
        data["actions"] = [a.as_json() for a in parsed.actions]
        return data


@admin.register(AutomationRule)
class AutomationRuleAdmin(admin.ModelAdmin):
    form = AutomationRuleForm
    list_display = ("name", "kind", "position", "active", "stop", "updated_at")
    list_filter = ("kind", "active")
    list_editable = ("position", "active")
    search_fields = ("name",)
    ordering = ("kind", "position", "id")


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(TriggerRun)
class TriggerRunAdmin(_ReadOnly):
    list_display = ("event", "depth", "fired", "refused", "created_at")
    list_select_related = ("event",)
    raw_id_fields = ("event",)


@admin.register(TimeRun)
class TimeRunAdmin(_ReadOnly):
    list_display = ("rule", "ticket", "state_since", "created_at")
    list_select_related = ("rule", "ticket")
    raw_id_fields = ("ticket",)


@admin.register(WebhookCall)
class WebhookCallAdmin(_ReadOnly):
    list_display = ("url", "rule", "status", "attempts", "response_status", "created_at")
    list_select_related = ("rule",)
    list_filter = ("status",)
    exclude = ("secret",)
    raw_id_fields = ("ticket",)

"""The desk's SLA policy form: conditions as pickers, targets as a priority × target grid of
minutes. It parses input only; `tickets.sla_services` checks and saves it."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from .calendar_models import Calendar
from .models import Channel, Group, Organisation
from .sla import PRIORITIES, Metric
from .sla_events import METRIC_LABELS
from .sla_models import SlaPolicy
from .sla_services import PolicyInput

PRIORITY_LABELS = {"low": _("Low"), "normal": _("Normal"), "high": _("High"), "urgent": _("Urgent")}
PAUSE_STATUSES = [("pending", _("Pending")), ("on_hold", _("On hold"))]


def grid_name(priority: str, metric: Metric) -> str:
    return f"t_{priority}_{metric.value}"


class SlaPolicyForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    calendar = forms.ModelChoiceField(
        label=_("Calendar"),
        queryset=Calendar.objects.order_by("name"),
        required=False,
        empty_label=_("Calendar time (24/7)"),
    )
    priority = forms.MultipleChoiceField(
        label=_("Priority is"),
        choices=[(p, PRIORITY_LABELS[p]) for p in PRIORITIES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    group = forms.ModelMultipleChoiceField(
        label=_("Group is"), queryset=Group.objects.order_by("name"), required=False
    )
    channel = forms.MultipleChoiceField(
        label=_("Channel is"),
        choices=Channel.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    organisation = forms.ModelMultipleChoiceField(
        label=_("Organisation is"), queryset=Organisation.objects.order_by("name"), required=False
    )
    tags = forms.CharField(
        label=_("Has one of the tags"),
        required=False,
        max_length=500,
        help_text=_("Comma-separated. Leave every condition empty to match every ticket."),
    )
    pause_on = forms.MultipleChoiceField(
        label=_("Pause while the ticket is"),
        choices=PAUSE_STATUSES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    pause_targets = forms.MultipleChoiceField(
        label=_("Targets that pause"),
        choices=[(m.value, METRIC_LABELS[m.value]) for m in Metric],
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args: Any, policy: SlaPolicy | None = None, **kwargs: Any) -> None:
        if policy is not None and "initial" not in kwargs:
            kwargs["initial"] = self.initial_for(policy)
        super().__init__(*args, **kwargs)
        for priority in PRIORITIES:
            for metric in Metric:
                self.fields[grid_name(priority, metric)] = forms.IntegerField(
                    label=f"{PRIORITY_LABELS[priority]} · {METRIC_LABELS[metric.value]}",
                    required=False,
                    min_value=1,
                    widget=forms.NumberInput(attrs={"inputmode": "numeric", "min": 1}),
                )
        if policy is None and not self.is_bound:
            self.fields["pause_on"].initial = ["pending", "on_hold"]
            self.fields["pause_targets"].initial = [Metric.RESOLUTION.value]

    @staticmethod
    def initial_for(policy: SlaPolicy) -> dict[str, Any]:
        conditions = policy.conditions or {}
        initial: dict[str, Any] = {
            "name": policy.name,
            "active": policy.active,
            "calendar": policy.calendar_id,
            "priority": conditions.get("priority", []),
            "group": Group.objects.filter(name__in=conditions.get("group", [])),
            "channel": conditions.get("channel", []),
            "organisation": Organisation.objects.filter(
                name__in=conditions.get("organisation", [])
            ),
            "tags": ", ".join(conditions.get("tags", [])),
            "pause_on": policy.pause_on,
            "pause_targets": policy.pause_targets,
        }
        for priority, metrics in (policy.targets or {}).items():
            for metric, minutes in metrics.items():
                initial[f"t_{priority}_{metric}"] = minutes
        return initial

    def grid(self) -> list[tuple[str, list[forms.BoundField]]]:
        """Rows of the targets table: a priority and its four minute fields."""
        return [
            (str(PRIORITY_LABELS[p]), [self[grid_name(p, m)] for m in Metric]) for p in PRIORITIES
        ]

    def metric_labels(self) -> list[str]:
        return [str(METRIC_LABELS[m.value]) for m in Metric]

    def to_input(self, *, position: int | None) -> PolicyInput:
        data = self.cleaned_data
        conditions: dict[str, list[str]] = {}
        if data["priority"]:
            conditions["priority"] = list(data["priority"])
        if data["group"]:
            conditions["group"] = [g.name for g in data["group"]]
        if data["channel"]:
            conditions["channel"] = list(data["channel"])
        if data["organisation"]:
            conditions["organisation"] = [o.name for o in data["organisation"]]
        tags = [t.strip() for t in (data["tags"] or "").split(",") if t.strip()]
        if tags:
            conditions["tags"] = tags
        targets: dict[str, dict[str, int]] = {}
        for priority in PRIORITIES:
            row = {
                m.value: data[grid_name(priority, m)]
                for m in Metric
                if data.get(grid_name(priority, m)) is not None
            }
            if row:
                targets[priority] = row
        calendar = data["calendar"]
        return PolicyInput(
            name=data["name"],
            position=position,
            conditions=conditions,
            calendar_id=calendar.pk if calendar is not None else None,
            targets=targets,
            pause_on=list(data["pause_on"]),
            pause_targets=list(data["pause_targets"]),
            active=data["active"],
        )

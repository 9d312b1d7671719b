"""The desk's rule form: name, events and options as fields; conditions and actions as rows
posted as `cond-N-field/op/value` and `act-N-type/value/subject/text/to/url/secret`.
A row whose field (or type) is left empty is ignored."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from ..models import Group, Ticket
from .models import AutomationRule
from .rules import ACTION_TYPES, CONDITION_FIELDS, NOTIFY_TARGETS, OPERATORS, TRIGGER_EVENTS

ROW = re.compile(r"^(cond|act)-(\d{1,3})-([a-z]+)$")
SPARE_ROWS = 1


class RuleForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    events = forms.MultipleChoiceField(
        label=_("Runs on"),
        choices=list(TRIGGER_EVENTS.items()),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    match = forms.ChoiceField(label=_("Match"), choices=AutomationRule.Match.choices)
    stop = forms.BooleanField(
        label=_("Stop here"), required=False, help_text=_("Later rules do not run after this one.")
    )
    active = forms.BooleanField(label=_("Enabled"), required=False, initial=True)

    def __init__(self, *args: Any, kind: str, rule: AutomationRule | None = None, **kw: Any):
        super().__init__(*args, **kw)
        self.kind = kind
        self.rule = rule
        if kind == AutomationRule.Kind.TIME:
            del self.fields["events"]
            del self.fields["stop"]

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        clash = AutomationRule.objects.filter(name__iexact=name)
        if self.rule is not None:
            clash = clash.exclude(pk=self.rule.pk)
        if clash.exists():
            raise forms.ValidationError(_("Another rule has this name."))
        return name


def rows_from_post(data: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Conditions and actions from the posted rows, in row order, empty rows dropped."""
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    for key in data:
        m = ROW.match(key)
        if m:
            rows.setdefault((m[1], int(m[2])), {})[m[3]] = data.get(key, "").strip()
    conditions = [
        {"field": r.get("field"), "op": r.get("op"), "value": r.get("value", "")}
        for (kind, _n), r in sorted(rows.items())
        if kind == "cond" and r.get("field")
    ]
    actions = []
    for (kind, _n), r in sorted(rows.items()):
        if kind != "act" or not r.get("type"):
            continue
        actions.append({k: v for k, v in r.items() if v != "" or k == "type"})
    return conditions, actions


@dataclass
class Choices:
    """What the row widgets offer (select options), for the template and the script."""

    fields: list[tuple[str, Any, tuple[str, ...]]] = field(default_factory=list)
    operators: list[tuple[str, Any]] = field(default_factory=list)
    actions: list[tuple[str, Any]] = field(default_factory=list)
    statuses: list[tuple[str, str]] = field(default_factory=list)
    priorities: list[tuple[int, str]] = field(default_factory=list)
    groups: list[tuple[int, str]] = field(default_factory=list)
    notify: tuple[str, ...] = NOTIFY_TARGETS


def row_choices() -> Choices:
    return Choices(
        fields=[(k, label, ops) for k, (label, ops) in CONDITION_FIELDS.items()],
        operators=list(OPERATORS.items()),
        actions=list(ACTION_TYPES.items()),
        statuses=list(Ticket.Status.choices),
        priorities=list(Ticket.Priority.choices),
        groups=list(Group.objects.order_by("name").values_list("id", "name")),
    )


def condition_rows(conditions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored conditions with their values as the text an admin types back."""

    def text(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list):
            return ", ".join(str(item) for item in value)
        return str(value)

    return [{**c, "value": text(c.get("value"))} for c in conditions]

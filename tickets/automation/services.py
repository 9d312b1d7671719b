"""Writes to automation rules: save (validated), enable/disable, move in the order."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from .models import AutomationRule
from .rules import parse_rule


@transaction.atomic
def rule_save(
    *,
    rule: AutomationRule | None,
    name: str,
    kind: str,
    events: list[str],
    match: str,
    conditions: list[dict[str, Any]],
    actions: list[dict[str, Any]],
    stop: bool,
    active: bool,
) -> AutomationRule:
    """Create or update a rule; raises `RuleError` (nothing saved) when it cannot run."""
    parsed = parse_rule(
        kind=kind, events=events, match=match, conditions=conditions, actions=actions
    )
    if rule is None:
        last = AutomationRule.objects.filter(kind=kind).aggregate(m=Max("position"))["m"]
        rule = AutomationRule(kind=kind, position=(last or 0) + 1)
    rule.name = name.strip()[:100]
    rule.kind = kind
    rule.events = parsed.events
    rule.match = parsed.match
    rule.conditions = [{"field": c.field, "op": c.op, "value": c.value} for c in parsed.conditions]
    rule.actions = [a.as_json() for a in parsed.actions]
    rule.stop = stop
    rule.active = active
    rule.updated_at = timezone.now()
    rule.save()
    return rule


@transaction.atomic
def rule_set_active(*, rule: AutomationRule, active: bool) -> AutomationRule:
    rule.active = active
    rule.updated_at = timezone.now()
    rule.save(update_fields=["active", "updated_at"])
    return rule


@transaction.atomic
def rule_move(*, rule: AutomationRule, up: bool) -> None:
    """Swap the rule with its neighbour in its kind's order (positions renumbered 1..n)."""
    rules = list(
        AutomationRule.objects.select_for_update().filter(kind=rule.kind).order_by("position", "id")
    )
    index = next(i for i, r in enumerate(rules) if r.pk == rule.pk)
    other = index - 1 if up else index + 1
    if 0 <= other < len(rules):
        rules[index], rules[other] = rules[other], rules[index]
    for position, item in enumerate(rules, start=1):
        if item.position != position:
            item.position = position
            item.save(update_fields=["position"])

"""The desk's automation pages, for admins: the ordered lists of triggers and time rules
(enable, move), the rule editor (conditions and actions as rows), and the dry run."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from ..automation import services
from ..automation.engine import rule_dry_run
from ..automation.forms import SPARE_ROWS, RuleForm, condition_rows, row_choices, rows_from_post
from ..automation.models import AutomationRule
from ..automation.rules import RuleError
from ..roles import is_admin

DRY_RUN_LIMIT = 100


def _gate(request: HttpRequest) -> HttpResponse | None:
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not is_admin(request.user):
        raise PermissionDenied(_("Automation rules are managed by admins."))
    return None


@require_GET
def automation_list(request: HttpRequest) -> HttpResponse:
    if (denied := _gate(request)) is not None:
        return denied
    rules = list(AutomationRule.objects.order_by("position", "id"))
    return render(
        request,
        "tickets/automation_list.html",
        {
            "triggers": [r for r in rules if r.kind == AutomationRule.Kind.TRIGGER],
            "time_rules": [r for r in rules if r.kind == AutomationRule.Kind.TIME],
        },
    )


def _editor(request: HttpRequest, *, kind: str, rule: AutomationRule | None) -> HttpResponse:
    conditions: list[dict[str, Any]] = condition_rows(rule.conditions) if rule else []
    actions: list[dict[str, Any]] = list(rule.actions) if rule else []
    rule_error = ""
    if request.method == "POST":
        form = RuleForm(request.POST, kind=kind, rule=rule)
        conditions, actions = rows_from_post(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                saved = services.rule_save(
                    rule=rule,
                    name=data["name"],
                    kind=kind,
                    events=data.get("events") or [],
                    match=data["match"],
                    conditions=conditions,
                    actions=actions,
                    stop=bool(data.get("stop")),
                    active=bool(data.get("active")),
                )
            except RuleError as exc:
                rule_error = str(exc)
            else:
                messages.success(request, _("Rule “%(name)s” saved.") % {"name": saved.name})
                return redirect("desk:automation_edit", rule_id=saved.pk)
    else:
        initial = (
            {
                "name": rule.name,
                "events": rule.events,
                "match": rule.match,
                "stop": rule.stop,
                "active": rule.active,
            }
            if rule
            else {"active": True, "match": AutomationRule.Match.ALL}
        )
        form = RuleForm(initial=initial, kind=kind, rule=rule)
    return render(
        request,
        "tickets/automation_form.html",
        {
            "form": form,
            "rule": rule,
            "kind": kind,
            "is_time": kind == AutomationRule.Kind.TIME,
            "conditions": conditions,
            "actions": actions,
            "spare": range(SPARE_ROWS),
            "choices": row_choices(),
            "rule_error": rule_error,
            "first_spare_condition": len(conditions),
            "first_spare_action": len(actions),
        },
        status=400 if rule_error or (request.method == "POST" and form.errors) else 200,
    )


@require_http_methods(["GET", "POST"])
def automation_new(request: HttpRequest) -> HttpResponse:
    if (denied := _gate(request)) is not None:
        return denied
    kind = request.GET.get("kind", AutomationRule.Kind.TRIGGER)
    if kind not in AutomationRule.Kind.values:
        raise Http404
    return _editor(request, kind=kind, rule=None)


@require_http_methods(["GET", "POST"])
def automation_edit(request: HttpRequest, rule_id: int) -> HttpResponse:
    if (denied := _gate(request)) is not None:
        return denied
    rule = get_object_or_404(AutomationRule, pk=rule_id)
    return _editor(request, kind=rule.kind, rule=rule)


@require_POST
def automation_toggle(request: HttpRequest, rule_id: int) -> HttpResponse:
    if (denied := _gate(request)) is not None:
        return denied
    rule = get_object_or_404(AutomationRule, pk=rule_id)
    services.rule_set_active(rule=rule, active=not rule.active)
    return redirect("desk:automation")


@require_POST
def automation_move(request: HttpRequest, rule_id: int) -> HttpResponse:
    if (denied := _gate(request)) is not None:
        return denied
    rule = get_object_or_404(AutomationRule, pk=rule_id)
    services.rule_move(rule=rule, up=request.POST.get("direction") == "up")
    return redirect("desk:automation")


@require_GET
def automation_dry_run(request: HttpRequest, rule_id: int) -> HttpResponse:
    if (denied := _gate(request)) is not None:
        return denied
    rule = get_object_or_404(AutomationRule, pk=rule_id)
    try:
        tickets = rule_dry_run(rule=rule, limit=DRY_RUN_LIMIT)
        error = ""
    except RuleError as exc:
        tickets, error = [], str(exc)
    return render(
        request,
        "tickets/automation_dry_run.html",
        {"rule": rule, "tickets": tickets, "error": error, "limit": DRY_RUN_LIMIT},
    )

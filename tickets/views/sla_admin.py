"""Desk pages where admins list, create, edit, reorder and delete SLA policies."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import sla_services
from ..roles import is_admin
from ..sla_forms import SlaPolicyForm
from ..sla_models import SlaPolicy


def _gate(request: HttpRequest) -> HttpResponse | None:
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not is_admin(request.user):
        raise PermissionDenied("SLA policies are managed by admins.")
    return None


@require_GET
def policies(request: HttpRequest) -> HttpResponse:
    if (denied := _gate(request)) is not None:
        return denied
    rows = list(SlaPolicy.objects.select_related("calendar").order_by("position", "id"))
    return render(request, "tickets/sla_policies.html", {"policies": rows})


def _save(request: HttpRequest, policy: SlaPolicy | None) -> HttpResponse:
    form = SlaPolicyForm(request.POST if request.method == "POST" else None, policy=policy)
    if request.method == "POST" and form.is_valid():
        try:
            data = form.to_input(position=policy.position if policy else None)
            if policy is None:
                saved = sla_services.sla_policy_create(data=data)
            else:
                saved = sla_services.sla_policy_update(policy=policy, data=data)
        except sla_services.SlaPolicyError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, str(exc))
        else:
            messages.success(request, _("Policy “%(name)s” saved.") % {"name": saved.name})
            return redirect("desk:sla_policies")
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "policy": policy}
    return render(request, "tickets/sla_policy_form.html", context, status=status)


@require_http_methods(["GET", "POST"])
def policy_new(request: HttpRequest) -> HttpResponse:
    if (denied := _gate(request)) is not None:
        return denied
    return _save(request, None)


@require_http_methods(["GET", "POST"])
def policy_edit(request: HttpRequest, pk: int) -> HttpResponse:
    if (denied := _gate(request)) is not None:
        return denied
    return _save(request, get_object_or_404(SlaPolicy, pk=pk))


@require_POST
def policy_move(request: HttpRequest, pk: int) -> HttpResponse:
    if (denied := _gate(request)) is not None:
        return denied
    offset = -1 if request.POST.get("direction") == "up" else 1
    sla_services.sla_policy_move(policy=get_object_or_404(SlaPolicy, pk=pk), offset=offset)
    return redirect("desk:sla_policies")


@require_POST
def policy_delete(request: HttpRequest, pk: int) -> HttpResponse:
    if (denied := _gate(request)) is not None:
        return denied
    policy = get_object_or_404(SlaPolicy, pk=pk)
    sla_services.sla_policy_delete(policy=policy)
    messages.success(request, _("Policy “%(name)s” deleted.") % {"name": policy.name})
    return redirect("desk:sla_policies")

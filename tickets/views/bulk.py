"""Bulk actions from the queue: start one on the checked tickets (or on every ticket the
current filters match), then watch its progress."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from .. import forms, selectors
from ..models import BulkJob
from ..search.engine import SearchError
from ..services import ServiceError
from ..services.bulk import BULK_MAX_TICKETS, bulk_job_start
from .desk import _vary, agent_required, form_errors, wants_partial


def _matching_ids(request: HttpRequest, matching: str) -> list[int]:
    """The ids of every ticket the queue shows for `matching` (the queue's query string)."""
    data = {k: v for k, v in QueryDict(matching).items() if k not in ("page", "saved")}
    query = forms.QueueFilterForm(data).to_query()
    try:
        tickets = selectors.queue_tickets(request.user, query)
    except SearchError as exc:
        raise ServiceError(" ".join(exc.messages)) from exc
    ids = tickets.select_related(None).prefetch_related(None).values_list("pk", flat=True)
    return list(ids[:BULK_MAX_TICKETS])


@agent_required
@require_POST
def bulk_start(request: HttpRequest) -> HttpResponse:
    form = forms.BulkActionForm(request.POST)
    job = None
    if not form.is_valid():
        messages.error(request, form_errors(form))
    else:
        data = form.cleaned_data
        try:
            ids = (
                _matching_ids(request, data["matching"]) if data["all_matching"] else data["ticket"]
            )
            job = bulk_job_start(
                actor=request.user, action=data["action"], params=data, ticket_ids=ids
            )
        except ServiceError as exc:
            messages.error(request, str(exc))
    if wants_partial(request):
        response = render(request, "tickets/_bulk_progress.html", {"job": job})
        if job is not None and job.is_finished:
            response["HX-Trigger"] = "bulk-finished"
        return _vary(response)
    if job is None:
        return redirect("desk:queue")
    return redirect("desk:bulk_job", job_id=job.pk)


@agent_required
@require_GET
def bulk_job(request: HttpRequest, job_id: int) -> HttpResponse:
    """The job's progress: a page, or (htmx) the fragment that polls itself until done."""
    job: Any = BulkJob.objects.filter(pk=job_id, actor_id=request.user.pk).first()
    if job is None:
        raise Http404("No such bulk action.")
    if wants_partial(request):
        response = render(request, "tickets/_bulk_progress.html", {"job": job})
        if job.is_finished:
            response["HX-Trigger"] = "bulk-finished"
        return _vary(response)
    return _vary(render(request, "tickets/bulk_job.html", {"job": job}))

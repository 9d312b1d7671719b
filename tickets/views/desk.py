"""The agent desk: the queue, one ticket, and the small views that change a ticket.

Every view reaches tickets through `tickets.access` and changes them only through
`tickets.services`. Changes answer an htmx request with the ticket's refreshed parts (as
out-of-band swaps) and a plain form post with a redirect, so the desk works without JS too.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.forms import Form
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import forms, selectors, services, sla_services
from ..access import access_contact_by_id, access_ticket_by_number
from ..identities import InvalidIdentity
from ..models import Attachment, Contact, Group, Identity, Macro, Ticket
from ..pagination import CappedPaginator
from ..roles import is_agent, sees_all_tickets
from ..services import ServiceError

View = Callable[..., HttpResponseBase]
QUEUE_PAGE_SIZE = 50


def agent_required(view: View) -> View:
    """Strangers go to the login page; logged-in people who are not agents get a 403."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not is_agent(request.user):
            raise PermissionDenied("The desk is for agents.")
        return view(request, *args, **kwargs)

    return wrapper


def wants_partial(request: HttpRequest) -> bool:
    htmx = getattr(request, "htmx", None)
    return htmx is not None and bool(htmx) and not htmx.history_restore_request


def _vary(response: HttpResponse) -> HttpResponse:
    # The same URL answers with a page or a fragment: caches must keep them apart.
    patch_vary_headers(response, ["HX-Request"])
    return response


# --- queue -------------------------------------------------------------------------------------


@agent_required
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    filters = forms.QueueFilterForm(request.GET)
    query = filters.to_query()
    tickets = selectors.queue_tickets(request.user, query)
    page = CappedPaginator(tickets, QUEUE_PAGE_SIZE).get_page(request.GET.get("page"))
    context: dict[str, Any] = {
        "filters": filters,
        "query": query,
        "page": page,
        "counts": selectors.queue_counts(request.user),
        "views": selectors.QUEUE_VIEWS,
        "view_label": selectors.QUEUE_VIEWS[query.view],
        "page_query": _without_page(request),
    }
    if wants_partial(request):
        return _vary(render(request, "tickets/_queue_partial.html", context))
    context.update(groups=selectors.all_groups(), agents=selectors.agents(), sorts=selectors.SORTS)
    return _vary(render(request, "tickets/queue.html", context))


def _without_page(request: HttpRequest) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


# --- one ticket --------------------------------------------------------------------------------


def ticket_context(request: HttpRequest, ticket: Ticket) -> dict[str, Any]:
    ticket = selectors.ticket_for_page(ticket)
    channels = selectors.reply_options(ticket)
    return {
        "ticket": ticket,
        "thread": selectors.ticket_thread(ticket),
        "activity": selectors.ticket_activity(ticket),
        "other_tickets": selectors.contact_other_tickets(request.user, ticket),
        "groups": selectors.all_groups(),
        "assignees": selectors.assignable_agents(ticket),
        "statuses": Ticket.Status.choices,
        "priorities": Ticket.Priority.choices,
        "tag_names": ", ".join(t.name for t in ticket.tags.all()),
        "macros": selectors.active_macros(),
        "reply_channels": channels,
        "reply_form": forms.ReplyForm(channels=[(o.value, o.full_label) for o in channels]),
        "note_form": forms.NoteForm(),
        "sla": sla_services.ticket_sla_panel(ticket),
    }


@agent_required
@require_GET
def ticket(request: HttpRequest, number: int) -> HttpResponse:
    found = access_ticket_by_number(request.user, number)
    return render(request, "tickets/ticket.html", ticket_context(request, found))


@agent_required
@require_GET
def ticket_live(request: HttpRequest, number: int) -> HttpResponse:
    """Header, fields, thread and activity as out-of-band fragments (live refresh)."""
    found = access_ticket_by_number(request.user, number)
    return _vary(render(request, "tickets/_ticket_update.html", ticket_context(request, found)))


def after_change(request: HttpRequest, ticket: Ticket, *, event: str = "") -> HttpResponse:
    if wants_partial(request):
        response = render(request, "tickets/_ticket_update.html", ticket_context(request, ticket))
        if event:
            response["HX-Trigger"] = event
        return response
    return redirect("desk:ticket", number=ticket.number)


def form_errors(form: Form) -> str:
    return " ".join(str(e) for errors in form.errors.values() for e in errors)


def _set_status(ticket: Ticket, data: dict[str, Any], actor: Any) -> Any:
    return services.ticket_set_status(ticket=ticket, status=data["status"], actor=actor)


def _set_priority(ticket: Ticket, data: dict[str, Any], actor: Any) -> Any:
    return services.ticket_set_priority(ticket=ticket, priority=data["priority"], actor=actor)


def _set_group(ticket: Ticket, data: dict[str, Any], actor: Any) -> Any:
    group = Group.objects.filter(pk=data["group"]).first() if data["group"] else None
    if data["group"] and group is None:
        raise ServiceError("That group does not exist.")
    return services.ticket_set_group(ticket=ticket, group=group, actor=actor)


def _set_assignee(ticket: Ticket, data: dict[str, Any], actor: Any) -> Any:
    agent = selectors.agents().filter(pk=data["assignee"]).first() if data["assignee"] else None
    if data["assignee"] and agent is None:
        raise ServiceError("Tickets can only be assigned to agents.")
    return services.ticket_assign(ticket=ticket, agent=agent, actor=actor)


def _set_tags(ticket: Ticket, data: dict[str, Any], actor: Any) -> Any:
    names = [t for t in data["tags"].split(",") if t.strip()]
    return services.ticket_set_tags(ticket=ticket, names=names, actor=actor)


def _set_subject(ticket: Ticket, data: dict[str, Any], actor: Any) -> Any:
    return services.ticket_set_subject(ticket=ticket, subject=data["subject"], actor=actor)


FIELD_UPDATES: dict[str, tuple[type[Form], Callable[[Ticket, dict[str, Any], Any], Any]]] = {
    "status": (forms.StatusForm, _set_status),
    "priority": (forms.PriorityForm, _set_priority),
    "group": (forms.GroupForm, _set_group),
    "assignee": (forms.AssigneeForm, _set_assignee),
    "tags": (forms.TagsForm, _set_tags),
    "subject": (forms.SubjectForm, _set_subject),
}


@agent_required
@require_POST
def ticket_update(request: HttpRequest, number: int, field: str) -> HttpResponse:
    found = access_ticket_by_number(request.user, number)
    form_class, apply = FIELD_UPDATES[field]
    form = form_class(request.POST)
    if not form.is_valid():
        messages.error(request, form_errors(form))
        return after_change(request, found)
    try:
        apply(found, form.cleaned_data, request.user)
    except ServiceError as exc:
        messages.error(request, str(exc))
    return after_change(request, found)


@agent_required
@require_POST
def ticket_reply(request: HttpRequest, number: int) -> HttpResponse:
    found = access_ticket_by_number(request.user, number)
    channels = selectors.reply_channels(found)
    form = forms.ReplyForm(request.POST, request.FILES, channels=channels)
    if not form.is_valid():
        messages.error(request, form_errors(form))
        return after_change(request, found)
    try:
        services.ticket_reply(
            ticket=found,
            author=request.user,
            text=form.cleaned_data["text"],
            status=form.cleaned_data["status"] or None,
            channel=form.cleaned_data["channel"] or None,
            attachments=forms.incoming_attachments(form.cleaned_data["attachments"]),
        )
    except ServiceError as exc:
        messages.error(request, str(exc))
        return after_change(request, found)
    return after_change(request, found, event="reply-sent")


@agent_required
@require_POST
def ticket_note(request: HttpRequest, number: int) -> HttpResponse:
    found = access_ticket_by_number(request.user, number)
    form = forms.NoteForm(request.POST)
    if not form.is_valid():
        messages.error(request, form_errors(form))
        return after_change(request, found)
    try:
        services.ticket_note(ticket=found, author=request.user, text=form.cleaned_data["text"])
    except ServiceError as exc:
        messages.error(request, str(exc))
        return after_change(request, found)
    return after_change(request, found, event="note-sent")


@agent_required
@require_POST
def ticket_macro(request: HttpRequest, number: int) -> HttpResponse:
    found = access_ticket_by_number(request.user, number)
    form = forms.MacroForm(request.POST)
    macro = None
    if form.is_valid():
        macro = Macro.objects.filter(pk=form.cleaned_data["macro"], active=True).first()
    if macro is None:
        messages.error(request, "Choose a macro to apply.")
        return after_change(request, found)
    try:
        services.macro_apply(ticket=found, macro=macro, actor=request.user)
        messages.success(request, f"Applied “{macro.name}”.")
    except ServiceError as exc:
        messages.error(request, str(exc))
    return after_change(request, found)


@agent_required
@require_POST
def ticket_merge(request: HttpRequest, number: int) -> HttpResponse:
    source = access_ticket_by_number(request.user, number)
    form = forms.MergeForm(request.POST)
    if not form.is_valid():
        messages.error(request, form_errors(form))
        return redirect("desk:ticket", number=number)
    try:
        target = access_ticket_by_number(request.user, form.cleaned_data["target"])
        services.ticket_merge(source=source, target=target, actor=request.user)
    except Http404:
        messages.error(request, f"There is no ticket #{form.cleaned_data['target']} you can see.")
        return redirect("desk:ticket", number=number)
    except ServiceError as exc:
        messages.error(request, str(exc))
        return redirect("desk:ticket", number=number)
    messages.success(request, f"Ticket #{number} was merged into this one.")
    return redirect("desk:ticket", number=target.number)


# --- contacts ----------------------------------------------------------------------------------


def contact_context(request: HttpRequest, contact: Contact, **extra: Any) -> dict[str, Any]:
    timeline = selectors.contact_timeline(request.user, contact)
    page = CappedPaginator(timeline, selectors.TIMELINE_PAGE_SIZE).get_page(request.GET.get("page"))
    return {
        "contact": selectors.contact_for_page(request.user, contact),
        "page": page,
        "timeline": selectors.timeline_entries(page.object_list),
        "identity_kinds": Identity.Kind.choices,
        "can_merge": sees_all_tickets(request.user),
        **extra,
    }


@agent_required
@require_GET
def contact(request: HttpRequest, contact_id: int) -> HttpResponse:
    """Who the contact is, and everything they said or were told on any channel."""
    found = access_contact_by_id(request.user, contact_id)
    if found.merged_into_id is not None:
        messages.info(request, f"{found.display_name} was merged into this contact.")
        return redirect("desk:contact", contact_id=found.merged_into_id)
    return render(request, "tickets/contact.html", contact_context(request, found))


@agent_required
@require_POST
def contact_identity_add(request: HttpRequest, contact_id: int) -> HttpResponse:
    found = access_contact_by_id(request.user, contact_id)
    form = forms.IdentityAddForm(request.POST)
    if not form.is_valid():
        messages.error(request, form_errors(form))
        return redirect("desk:contact", contact_id=found.pk)
    try:
        identity = services.identity_add(
            contact=found, kind=form.cleaned_data["kind"], value=form.cleaned_data["value"]
        )
    except (ServiceError, InvalidIdentity) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Added {identity.get_kind_display()} {identity.value}.")
    return redirect("desk:contact", contact_id=found.pk)


@agent_required
@require_GET
def contact_merge_search(request: HttpRequest, contact_id: int) -> HttpResponse:
    """Live results for "merge another contact into this one": only contacts the agent may
    see, by the API's rule (`selectors.visible_contacts`)."""
    target = access_contact_by_id(request.user, contact_id)
    form = forms.ContactSearchForm(request.GET)
    q = form.cleaned_data["q"] if form.is_valid() else ""
    results = selectors.contact_search(request.user, q, exclude=target.pk)
    extra = {"merge_q": q, "merge_results": results, "merge_searched": bool(q.strip())}
    if wants_partial(request):
        return _vary(
            render(request, "tickets/_contact_merge_results.html", {**extra, "contact": target})
        )
    return _vary(render(request, "tickets/contact.html", contact_context(request, target, **extra)))


@agent_required
@require_http_methods(["GET", "POST"])
def contact_merge(request: HttpRequest, contact_id: int) -> HttpResponse:
    """GET: both contacts side by side, to confirm. POST: merge (supervisors and admins, like
    the API: a merge moves tickets across teams)."""
    target = access_contact_by_id(request.user, contact_id)
    if request.method == "POST" and not sees_all_tickets(request.user):
        raise PermissionDenied("Only supervisors and admins may merge contacts.")
    form = forms.ContactMergeForm(request.POST if request.method == "POST" else request.GET)
    source = None
    if form.is_valid():
        source = (
            selectors.visible_contacts(request.user).filter(pk=form.cleaned_data["source"]).first()
        )
    if source is None or target.merged_into_id is not None:
        raise Http404("No such contact.")
    if request.method == "GET":
        return render(
            request,
            "tickets/contact_merge.html",
            {
                "target": selectors.contact_for_page(request.user, target),
                "source": selectors.contact_for_page(request.user, source),
                "can_merge": sees_all_tickets(request.user),
            },
        )
    try:
        services.contact_merge(source=source, target=target, actor=request.user)
    except ServiceError as exc:
        messages.error(request, str(exc))
        return redirect("desk:contact", contact_id=target.pk)
    messages.success(request, f"{source.display_name} was merged into {target.display_name}.")
    return redirect("desk:contact", contact_id=target.pk)


# --- attachments -------------------------------------------------------------------------------


def attachment_response(attachment: Attachment) -> FileResponse:
    """Always a download, never rendered inline: uploaded HTML or SVG must not run as ours."""
    response = FileResponse(
        attachment.file.open("rb"),
        as_attachment=True,
        filename=attachment.filename,
        content_type=attachment.content_type or "application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@agent_required
@require_GET
def attachment(request: HttpRequest, attachment_id: int) -> HttpResponseBase:
    found = selectors.attachment_for_agent(request.user, attachment_id)
    if found is None:
        raise Http404("No such attachment.")
    return attachment_response(found)


# Raster images only: SVG can carry script, so it is never shown inline.
INLINE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp"})


@agent_required
@require_GET
def attachment_inline(request: HttpRequest, attachment_id: int) -> HttpResponseBase:
    """An email's inline (cid:) image, shown in place in the thread."""
    found = selectors.attachment_for_agent(request.user, attachment_id)
    if found is None or found.content_type.lower() not in INLINE_IMAGE_TYPES:
        raise Http404("No such image.")
    response = FileResponse(found.file.open("rb"), content_type=found.content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=3600"
    return response

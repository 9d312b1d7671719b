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
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import forms, saved_views, selectors, services, sla_services
from ..access import access_contact_by_id, access_ticket_by_number
from ..identities import InvalidIdentity
from ..models import BulkJob, Contact, Group, Identity, Macro, SavedView, Ticket
from ..pagination import CappedPaginator
from ..remote_images import remote_image_sources
from ..roles import is_agent, may_merge_contacts
from ..search.engine import SEARCH_CANDIDATES, SearchError
from ..search.parser import parse_query
from ..services import ServiceError
from .downloads import attachment_download, attachment_inline_image

View = Callable[..., HttpResponseBase]
QUEUE_PAGE_SIZE = 50


def agent_required(view: View) -> View:
    """Strangers go to the login page; logged-in people who are not agents get a 403."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not is_agent(request.user):
            return _not_for_customers(request)
        return view(request, *args, **kwargs)

    return wrapper


def _not_for_customers(request: HttpRequest) -> HttpResponse:
    """A customer (or anyone else signed in) who opens the desk: our 403 page, pointing a
    customer to the portal. A plain response, not an exception: nothing is logged as an error."""
    is_customer = Contact.objects.filter(user_id=int(request.user.pk or 0)).exists()
    return render(request, "tickets/desk_forbidden.html", {"is_customer": is_customer}, status=403)


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
    saved = _saved_view(request)
    filters = forms.QueueFilterForm(_queue_data(request, saved))
    query = filters.to_query()
    search_errors: list[str] = []
    try:
        tickets = selectors.queue_tickets(request.user, query)
    except SearchError as exc:  # the agent reads why, and the query stays in the box
        search_errors, tickets = exc.messages, Ticket.objects.none()
    page = _paginator(tickets, query).get_page(request.GET.get("page"))
    selectors.queue_snippets(request.user, page.object_list, query)
    context: dict[str, Any] = {
        "filters": filters,
        "query": query,
        "page": page,
        "search_errors": search_errors,
        "search_help": SEARCH_HELP,
        "explicit_view": "view" in request.GET or bool(saved and "view" in saved.filters),
        "counts": selectors.queue_counts(request.user),
        "views": selectors.QUEUE_VIEWS,
        "view_label": saved.name if saved else selectors.QUEUE_VIEWS[query.view],
        "page_query": _without_page(request),
        **_saved_views_context(request, saved),
    }
    if wants_partial(request):
        return _vary(render(request, "tickets/_queue_partial.html", context))
    context.update(
        groups=selectors.all_groups(),
        agents=selectors.agents(),
        sorts=selectors.SORTS,
        bulk_actions=BulkJob.Action.choices,
        statuses=Ticket.Status.choices,
        priorities=Ticket.Priority.choices,
        macros=selectors.active_macros(),
    )
    return _vary(render(request, "tickets/queue.html", context))


def _saved_view(request: HttpRequest) -> SavedView | None:
    raw = request.GET.get("saved", "")
    if not raw:
        return None
    if not raw.isdigit():
        raise Http404("No such view.")
    return saved_views.access_saved_view_by_id(request.user, int(raw))


def _queue_data(request: HttpRequest, saved: SavedView | None) -> dict[str, Any]:
    """The saved view's filters, then whatever the agent changed on top of them."""
    data: dict[str, Any] = saved_views.form_data(saved) if saved else {}
    data.update({k: v for k, v in request.GET.items() if k not in ("saved", "page")})
    return data


def _saved_views_context(request: HttpRequest, saved: SavedView | None) -> dict[str, Any]:
    views = list(saved_views.visible_saved_views(request.user))
    counts = saved_views.saved_view_counts(request.user, views)
    return {
        "saved_view": saved,
        "saved_views": [(v, counts[v.pk]) for v in views],
        "saved_view_changeable": saved is not None and saved_views.may_change(request.user, saved),
        "columns": saved_views.columns_of(saved),
        "all_columns": SavedView.COLUMNS,
        "my_groups": selectors.groups_of(request.user),
    }


SEARCH_HELP = (
    'Words and "phrases" search subjects, messages, notes, file names, the requester and '
    "tags. Narrow with status:open tag:refund from:alice@example.com assignee:me "
    "group:Billing priority:high channel:email created>2026-11-01 updated<2026-12-01, "
    "and -tag:spam to leave out."
)


class SearchPaginator(CappedPaginator):
    cap = SEARCH_CANDIDATES


def _paginator(tickets: Any, query: selectors.QueueQuery) -> CappedPaginator:
    has_text = bool(query.q) and parse_query(query.q).has_text
    return (SearchPaginator if has_text else CappedPaginator)(tickets, QUEUE_PAGE_SIZE)


def _without_page(request: HttpRequest) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


# --- one ticket --------------------------------------------------------------------------------


def ticket_context(request: HttpRequest, ticket: Ticket) -> dict[str, Any]:
    ticket = selectors.ticket_for_page(ticket)
    channels = selectors.reply_options(ticket)
    activity = selectors.ticket_activity(ticket)
    thread = selectors.ticket_thread(ticket)
    return {
        "ticket": ticket,
        "thread": thread,
        "activity": activity,
        "links": selectors.ticket_links(ticket, activity),
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
        "seen_message": selectors.thread_last_message_id(thread),
        "following": selectors.is_following(request.user, ticket),
    }


@agent_required
@require_GET
def ticket(request: HttpRequest, number: int) -> HttpResponse:
    """The ticket page; `?remote_images=<message id>` shows that email's remote images."""
    found = access_ticket_by_number(request.user, number)
    context = ticket_context(request, found)
    sources = _remote_image_sources(context["thread"], request.GET.get("remote_images", ""))
    if sources:
        context["remote_images_message"] = int(request.GET["remote_images"])
    response = render(request, "tickets/ticket.html", context)
    if sources:
        # this page only: its policy also admits that one message's image origins
        response._csp_update = {"img-src": sources}  # type: ignore[attr-defined]
    return response


def _remote_image_sources(thread: list[selectors.ThreadItem], asked: str) -> list[str]:
    """The image origins of the thread's message `asked` (an id from the query string);
    empty unless it names an HTML message of this very ticket."""
    if not asked.isdigit():
        return []
    for item in thread:
        if item.message.pk == int(asked) and item.use_html:
            return remote_image_sources(item.message.html)
    return []


@agent_required
@require_GET
def ticket_live(request: HttpRequest, number: int) -> HttpResponse:
    """Header, fields, thread and activity as out-of-band fragments (live refresh)."""
    found = access_ticket_by_number(request.user, number)
    return _vary(render(request, "tickets/_ticket_update.html", ticket_context(request, found)))


def after_change(
    request: HttpRequest, ticket: Ticket, *, event: str = "", fresh_composer: bool = False
) -> HttpResponse:
    """`fresh_composer`: the agent's own send went through, so the reply form's picture of
    the ticket (its newest seen message) is renewed along with the page."""
    if wants_partial(request):
        context = {**ticket_context(request, ticket), "fresh_composer": fresh_composer}
        response = render(request, "tickets/_ticket_update.html", context)
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
    seen = form.cleaned_data["seen_message"]
    if seen is not None:
        news = selectors.ticket_news_since(found, seen_message_id=seen, viewer=request.user)
        if news:
            return _stale_reply(request, found, news, form.cleaned_data["text"])
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
    return after_change(request, found, event="reply-sent", fresh_composer=True)


def _stale_reply(
    request: HttpRequest, ticket: Ticket, news: list[selectors.ThreadItem], text: str
) -> HttpResponse:
    """Refuse a reply written against an old picture of the ticket (409): show what arrived
    since, and take the news as seen, so sending again ("Send anyway") goes through. htmx
    gets the warning alone (the typed text stays in the form); a plain form post gets the
    page back with the text kept."""
    stale = {"stale_news": news, "seen_message": max(item.message.pk for item in news)}
    if wants_partial(request):
        context = {"ticket": ticket, **stale, "oob": True}
        return render(request, "tickets/_reply_stale.html", context, status=409)
    context = {**ticket_context(request, ticket), **stale, "reply_text": text}
    return render(request, "tickets/ticket.html", context, status=409)


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


@agent_required
@require_POST
def ticket_split(request: HttpRequest, number: int, message_id: int) -> HttpResponse:
    """Split one customer message of this ticket out into a new ticket, and open that one."""
    found = access_ticket_by_number(request.user, number)
    try:
        new = services.ticket_split(ticket=found, message_id=message_id, actor=request.user)
    except ServiceError as exc:
        messages.error(request, str(exc))
        return redirect("desk:ticket", number=number)
    messages.success(request, f"The message is now ticket #{new.number}, linked to #{number}.")
    return redirect("desk:ticket", number=new.number)


# --- contacts ----------------------------------------------------------------------------------


def contact_context(request: HttpRequest, contact: Contact, **extra: Any) -> dict[str, Any]:
    timeline = selectors.contact_timeline(request.user, contact)
    page = CappedPaginator(timeline, selectors.TIMELINE_PAGE_SIZE).get_page(request.GET.get("page"))
    return {
        "contact": selectors.contact_for_page(request.user, contact),
        "page": page,
        "timeline": selectors.timeline_entries(page.object_list),
        "identity_kinds": Identity.Kind.choices,
        "can_merge": may_merge_contacts(request.user),
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
    if request.method == "POST" and not may_merge_contacts(request.user):
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
                "can_merge": may_merge_contacts(request.user),
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


@agent_required
@require_GET
def attachment(request: HttpRequest, attachment_id: int) -> HttpResponseBase:
    found = selectors.attachment_for_agent(request.user, attachment_id)
    if found is None:
        raise Http404("No such attachment.")
    return attachment_download(found)


@agent_required
@require_GET
def attachment_inline(request: HttpRequest, attachment_id: int) -> HttpResponseBase:
    """An email's inline (cid:) image, shown in place in the thread."""
    found = selectors.attachment_for_agent(request.user, attachment_id)
    response = attachment_inline_image(found) if found is not None else None
    if response is None:
        raise Http404("No such image.")
    return response


# --- saved views -------------------------------------------------------------------------------


@agent_required
@require_POST
def saved_view_save(request: HttpRequest) -> HttpResponse:
    """Save the queue's current filters (hidden fields of the form) under a name."""
    form = forms.SavedViewForm(request.POST, groups=selectors.groups_of(request.user))
    if not form.is_valid():
        messages.error(request, form_errors(form))
        return redirect("desk:queue")
    data = form.cleaned_data
    share = data["share_with"]
    group = Group.objects.filter(pk=share).first() if share else None
    filters = {k: request.POST.get(k, "") for k in saved_views.FILTER_KEYS}
    try:
        view = saved_views.saved_view_save(
            owner=request.user,
            name=data["name"],
            filters=filters,
            columns=data["columns"],
            sort=data["sort"],
            group=group,
        )
    except saved_views.SavedViewError as exc:
        messages.error(request, str(exc))
        return redirect("desk:queue")
    messages.success(request, f"View “{view.name}” saved.")
    return redirect(f"{reverse('desk:queue')}?saved={view.pk}")


@agent_required
@require_POST
def saved_view_delete(request: HttpRequest, view_id: int) -> HttpResponse:
    view = saved_views.access_saved_view_by_id(request.user, view_id)
    try:
        saved_views.saved_view_delete(view=view, actor=request.user)
    except saved_views.SavedViewError as exc:
        raise PermissionDenied(str(exc)) from exc
    messages.success(request, f"View “{view.name}” deleted.")
    return redirect("desk:queue")

"""The customer portal's ticket pages: my tickets, one ticket's public thread, a new ticket.

Customers see their own tickets and their organisation's (`access.visible_tickets`), only the
public messages, and write through the same ingest path as every other channel.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from .. import forms, selectors, services
from ..access import access_ticket_by_number
from ..models import Channel, Contact, Identity, Ticket
from ..roles import is_agent
from ..services import ServiceError
from ..types import IncomingMessage
from .desk import form_errors
from .downloads import attachment_download, attachment_inline_image

View = Callable[..., HttpResponseBase]
PORTAL_PAGE_SIZE = 25


def customer_view(view: View) -> View:
    """Logged-in customers only; agents belong on the desk, where the same ticket opens."""

    @wraps(view)
    @login_required
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if is_agent(request.user):
            if "number" in kwargs:
                return redirect("desk:ticket", number=kwargs["number"])
            return redirect("desk:queue")
        return view(request, *args, **kwargs)

    return wrapper


def _contact_or_404(request: HttpRequest) -> Contact:
    contact = selectors.portal_contact(request.user)
    if contact is None:
        raise Http404("This login is not linked to a customer.")
    return contact


def _email_of(contact: Contact) -> str:
    identity = next((i for i in contact.identities.all() if i.kind == Identity.Kind.EMAIL), None)
    if identity is None:
        raise ServiceError("Your account has no email address on file; please contact us.")
    return identity.value


@customer_view
@require_GET
def tickets(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.portal_tickets(request.user), PORTAL_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "portal/tickets.html", {"page": page})


@customer_view
@require_http_methods(["GET", "POST"])
def ticket(request: HttpRequest, number: int) -> HttpResponse:
    contact = _contact_or_404(request)
    found = access_ticket_by_number(request.user, number, for_agent=False)
    is_closed = found.status == Ticket.Status.CLOSED
    form = forms.PortalReplyForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and is_closed:
        messages.error(request, "This request is closed; please open a new one.")
    elif request.method == "POST" and form.is_valid():
        try:
            services.message_ingest(
                incoming=IncomingMessage(
                    channel=Channel.WEB,
                    identity_kind=Identity.Kind.EMAIL,
                    identity_value=_email_of(contact),
                    sender_name=contact.name,
                    target_ticket_id=found.pk,
                    subject=found.subject,
                    text=form.cleaned_data["text"],
                    attachments=forms.incoming_attachments(form.cleaned_data["attachments"]),
                )
            )
        except ServiceError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "Your reply was sent.")
            return redirect("portal:ticket", number=found.number)
    elif request.method == "POST":
        messages.error(request, form_errors(form))
    return render(
        request,
        "portal/ticket.html",
        {
            "ticket": found,
            "thread": selectors.portal_thread(found),
            "form": form,
            "is_closed": is_closed,
        },
    )


@customer_view
@require_http_methods(["GET", "POST"])
def new_ticket(request: HttpRequest) -> HttpResponse:
    contact = _contact_or_404(request)
    # a link from elsewhere (the help centre's "contact us") may start the form filled in
    initial = {k: request.GET.get(k, "")[:2000] for k in ("subject", "text") if request.GET.get(k)}
    form = forms.PortalNewTicketForm(request.POST or None, request.FILES or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            created = services.ticket_create(
                contact=contact,
                channel=Channel.WEB,
                subject=form.cleaned_data["subject"],
                text=form.cleaned_data["text"],
                actor=request.user,
                attachments=forms.incoming_attachments(form.cleaned_data["attachments"]),
            )
        except ServiceError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Thanks — we received your request #{created.number}.")
            return redirect("portal:ticket", number=created.number)
    return render(request, "portal/new.html", {"form": form})


@customer_view
@require_GET
def attachment(request: HttpRequest, attachment_id: int) -> HttpResponseBase:
    found = selectors.attachment_for_customer(request.user, attachment_id)
    if found is None:
        raise Http404("No such attachment.")
    return attachment_download(found)


@customer_view
@require_GET
def attachment_inline(request: HttpRequest, attachment_id: int) -> HttpResponseBase:
    """An inline (cid:) image of a public message, in place in the customer's thread."""
    found = selectors.attachment_for_customer(request.user, attachment_id)
    response = attachment_inline_image(found) if found is not None else None
    if response is None:
        raise Http404("No such image.")
    return response

"""The desk's "New ticket" page: an agent opens a ticket for a contact, found or new."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from .. import forms, selectors, services
from ..identities import InvalidIdentity
from ..models import Contact, Identity
from ..services import ServiceError
from ..services.manual import ORIGINS, outbound_channels, ticket_open_by_agent
from .desk import agent_required


def _chosen_contact(request: HttpRequest, raw: Any) -> Contact | None:
    if not raw or not str(raw).isdigit():
        return None
    return (
        selectors.visible_contacts(request.user)
        .prefetch_related("identities")
        .filter(pk=int(raw))
        .first()
    )


def _new_contact(data: dict[str, Any]) -> Contact:
    """The contact of the typed email (or phone): the existing one owning it, or a new one;
    the other address is added to it."""
    email, phone, name = data["email"], data["phone"].strip(), data["name"].strip()
    first_kind, first_value = (
        (Identity.Kind.EMAIL, email) if email else (Identity.Kind.PHONE, phone)
    )
    contact = services.contact_resolve(kind=first_kind, value=first_value, name=name)
    if email and phone:
        try:
            services.identity_add(contact=contact, kind=Identity.Kind.PHONE, value=phone)
        except ServiceError:
            pass  # the number is already known; the ticket still opens on the email
    return contact


@agent_required
@require_http_methods(["GET", "POST"])
def ticket_new(request: HttpRequest) -> HttpResponse:
    groups = selectors.groups_of(request.user)
    posted = request.method == "POST"
    form = forms.NewTicketForm(
        request.POST if posted else None,
        origins=ORIGINS,
        groups=groups,
        initial={"group": groups[0].pk if groups else None, "origin": "phone"},
    )
    contact = _chosen_contact(
        request, request.POST.get("contact") if posted else request.GET.get("contact")
    )
    if posted and form.is_valid():
        data = form.cleaned_data
        group = groups.filter(pk=data["group"]).first() if data["group"] else None
        try:
            if data["contact"] and contact is None:
                raise ServiceError("Choose a contact you can see.")
            if data["group"] and group is None:
                raise ServiceError("You can only open tickets in your own groups.")
            with transaction.atomic():  # a new contact stays only with its ticket
                ticket = ticket_open_by_agent(
                    agent=request.user,
                    contact=contact or _new_contact(data),
                    origin=data["origin"],
                    subject=data["subject"],
                    text=data["text"],
                    group=group,
                    channel=data["channel"],
                )
        except (ServiceError, InvalidIdentity) as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("desk:ticket", number=ticket.number)
    q = request.GET.get("q", "").strip()[:200]
    context = {
        "form": form,
        "contact": contact,
        "contact_channels": outbound_channels(contact) if contact else [],
        "q": q,
        "results": selectors.contact_search(request.user, q) if q and contact is None else [],
    }
    return render(request, "tickets/ticket_new.html", context, status=400 if posted else 200)

"""The Retry button on a message whose delivery failed (the core shows the failure; the edge,
which owns deliveries, requeues it)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from tickets.access import agent_tickets
from tickets.models import Message
from tickets.services import ServiceError
from tickets.views.desk import agent_required

from . import services


@agent_required
@require_POST
def delivery_retry(request: HttpRequest, message_id: int) -> HttpResponse:
    message = (
        Message.objects.filter(pk=message_id, ticket__in=agent_tickets(request.user))
        .select_related("ticket")
        .first()
    )
    if message is None:
        raise Http404("No such message.")
    try:
        count = services.delivery_retry(message_id=message.pk, actor=request.user)
    except ServiceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, "Sending again." if count == 1 else f"Sending again on {count} channels."
        )
    url = reverse("desk:ticket", kwargs={"number": message.ticket.number})
    return redirect(f"{url}#message-{message.pk}")

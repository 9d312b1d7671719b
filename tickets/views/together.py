"""Working together: the bell (notifications), notification settings, following a ticket,
and the list of agents a note may mention."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import forms, selectors, services
from ..access import access_ticket_by_number
from ..models import Notification
from .desk import _vary, agent_required, wants_partial

BELL_SIZE = 20


@agent_required
@require_GET
def notification_count(request: HttpRequest) -> HttpResponse:
    unread = selectors.unread_notification_count(request.user)
    return _vary(render(request, "tickets/_bell_count.html", {"unread": unread}))


@agent_required
@require_GET
def notification_list(request: HttpRequest) -> HttpResponse:
    """The bell's dropdown (htmx) or the same list as a page of its own."""
    context = {
        "notifications": selectors.recent_notifications(request.user, limit=BELL_SIZE),
        "unread": selectors.unread_notification_count(request.user),
    }
    template = (
        "tickets/_notifications.html" if wants_partial(request) else "tickets/notifications.html"
    )
    return _vary(render(request, template, context))


@agent_required
@require_POST
def notification_open(request: HttpRequest, notification_id: int) -> HttpResponse:
    """Mark it read and go to its ticket; someone else's notification is a 404."""
    found = Notification.objects.filter(pk=notification_id, recipient_id=request.user.pk).first()
    if found is None:
        return render(request, "404.html", status=404)
    services.notification_mark_read(user=request.user, notification_id=found.pk)
    if found.ticket_id is None:
        return redirect("desk:notifications")
    number = found.ticket.number if found.ticket else 0
    return redirect("desk:ticket", number=number)


@agent_required
@require_POST
def notification_read_all(request: HttpRequest) -> HttpResponse:
    services.notification_mark_read(user=request.user)
    if wants_partial(request):
        context = {
            "notifications": selectors.recent_notifications(request.user, limit=BELL_SIZE),
            "unread": 0,
        }
        return render(request, "tickets/_notifications.html", context)
    back = request.POST.get("next", "")
    if back and url_has_allowed_host_and_scheme(back, {request.get_host()}):
        return redirect(back)
    return redirect("desk:notifications")


@agent_required
@require_http_methods(["GET", "POST"])
def notification_settings(request: HttpRequest) -> HttpResponse:
    current = services.notifications.notification_preferences(request.user)
    form = forms.NotificationSettingsForm(request.POST or None, current=current)
    if request.method == "POST" and form.is_valid():
        services.notification_settings_update(user=request.user, choices=form.choices())
        messages.success(request, _("Notification settings saved."))
        return redirect("desk:notification_settings")
    return render(request, "tickets/notification_settings.html", {"form": form})


@agent_required
@require_POST
def ticket_follow(request: HttpRequest, number: int) -> HttpResponse:
    """Follow (`follow=1`) or unfollow (`follow=0`) a ticket the agent may see."""
    found = access_ticket_by_number(request.user, number)
    if request.POST.get("follow") == "1":
        services.ticket_follow(ticket=found, user=request.user)
    else:
        services.ticket_unfollow(ticket=found, user=request.user)
    if wants_partial(request):
        context = {"ticket": found, "following": selectors.is_following(request.user, found)}
        return render(request, "tickets/_follow.html", context)
    return redirect("desk:ticket", number=found.number)


@agent_required
@require_GET
def mention_candidates(request: HttpRequest, number: int) -> JsonResponse:
    """Agents who can see the ticket and so may be mentioned on it, matching `q` (the start
    of a username, first or last name): [{"username", "name"}], at most 8."""
    found = access_ticket_by_number(request.user, number)
    people = selectors.mentionable_agents(found, query=request.GET.get("q", ""), limit=8)
    return JsonResponse(
        {"results": [{"username": u.get_username(), "name": u.get_full_name()} for u in people]}
    )

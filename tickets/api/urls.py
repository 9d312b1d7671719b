"""The agent REST API, mounted at /api/v1/."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from . import calendars, sla, together, views

app_name = "api"

router = SimpleRouter()
router.register("tickets", views.TicketViewSet, basename="ticket")
router.register("contacts", views.ContactViewSet, basename="contact")
router.register("messages", views.MessageViewSet, basename="message")
router.register("groups", views.GroupViewSet, basename="group")
router.register("tags", views.TagViewSet, basename="tag")
router.register("macros", views.MacroViewSet, basename="macro")
router.register("calendars", calendars.CalendarViewSet, basename="calendar")
router.register("views", views.SavedViewViewSet, basename="saved-view")
router.register("sla-policies", sla.SlaPolicyViewSet, basename="sla-policy")
router.register("notifications", together.NotificationViewSet, basename="notification")

urlpatterns = [
    path("me/", views.MeView.as_view(), name="me"),
    path("search/", views.SearchView.as_view(), name="search"),
    path("auth/token/", views.TokenView.as_view(), name="token"),
    path("tickets/<int:number>/sla/", sla.TicketSlaView.as_view(), name="ticket-sla"),
    *router.urls,
]

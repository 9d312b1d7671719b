"""The customer portal's ticket pages, mounted at /portal/."""

from __future__ import annotations

from django.urls import path

from .views import portal

app_name = "portal"
urlpatterns = [
    path("", portal.tickets, name="tickets"),
    path("new/", portal.new_ticket, name="new"),
    path("tickets/<int:number>/", portal.ticket, name="ticket"),
    path("attachments/<int:attachment_id>/", portal.attachment, name="attachment"),
    path(
        "attachments/<int:attachment_id>/inline/",
        portal.attachment_inline,
        name="attachment-inline",
    ),
]

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic.base import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from kb import views as kb_views
from tickets.views.home import home

urlpatterns = [
    path("", home, name="home"),
    # admin and API docs pages do not name an icon; browsers ask for this one
    path(
        "favicon.ico",
        RedirectView.as_view(url=settings.STATIC_URL + "img/favicon.svg", permanent=True),
    ),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("desk/", include("tickets.urls")),
    path("portal/", include("tickets.portal_urls")),
    path("help/", include("kb.urls")),
    path("sitemap.xml", kb_views.sitemap, name="sitemap"),
    path("api/v1/", include("kb.api.urls")),
    path("api/v1/", include("tickets.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # the split view serves Swagger UI's start-up script from a URL of ours (no inline script)
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="api-schema", template_name="api/swagger_ui.html"
        ),
        name="api-docs",
    ),
    path("channels/", include("channels_in.urls")),
]
# Nothing maps MEDIA_URL, in any mode: stored files (a stranger's HTML or SVG among them) leave
# only through the access-checked download views (tickets/views/downloads.py).

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic.base import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

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
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("channels/", include("channels_in.urls")),
]

if settings.DEBUG:
    from django.views.static import serve

    urlpatterns += [path("media/<path:path>", serve, {"document_root": settings.MEDIA_ROOT})]

"""The project's URLs plus one view that fails, for the 500 page's test."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

from helpdesk.urls import urlpatterns as project_urls


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("an unexpected failure")


urlpatterns = [*project_urls, path("boom/", boom)]

"""The public self-service API, mounted under /api/v1/ by helpdesk/urls.py."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "kb_api"
urlpatterns = [
    path("kb/search/", views.KbSearchView.as_view(), name="search"),
    path("bot/answer/", views.BotAnswerView.as_view(), name="bot-answer"),
]

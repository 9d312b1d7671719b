"""The help centre, mounted at /help/ by helpdesk/urls.py."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "kb"
urlpatterns = [
    path("", views.root, name="root"),
    path("articles/<int:article_id>/", views.article_by_id, name="article-by-id"),
    path("articles/<int:article_id>/vote/", views.vote, name="vote"),
    path("r/<int:search_id>/<int:article_id>/", views.click, name="click"),
    path("<str:locale>/", views.home, name="home"),
    path("<str:locale>/search/", views.search_page, name="search"),
    path("<str:locale>/c/<path:path>/", views.category, name="category"),
    path("<str:locale>/a/<str:slug>/", views.article, name="article"),
]

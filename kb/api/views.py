"""The public self-service API: article search and the answer bot (anonymous allowed)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from .. import search
from ..bot import bot_answer
from ..models import Article, SearchLog
from ..services import KbError, normalise_locale, search_log_record


class PublicApiThrottle(SimpleRateThrottle):
    """`HELPDESK_PUBLIC_API_RATE` requests a minute per client (user, else IP); 0 = no limit.

    Counted in the default cache (Redis), so every web process shares one count."""

    scope = "kb_public"

    def get_rate(self) -> str | None:
        rate = int(settings.HELPDESK_PUBLIC_API_RATE)
        return f"{rate}/min" if rate > 0 else None

    def allow_request(self, request: Any, view: Any) -> bool:
        if self.rate is None:
            return True
        return super().allow_request(request, view)

    def get_cache_key(self, request: Any, view: Any) -> str:
        if request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"ip-{self.get_ident(request)}"
        return f"throttle_{self.scope}_{getattr(view, 'throttle_name', 'api')}_{ident}"


class SearchQuery(serializers.Serializer):
    q = serializers.CharField(max_length=500, trim_whitespace=True)
    locale = serializers.CharField(max_length=10, required=False)
    limit = serializers.IntegerField(min_value=1, max_value=50, default=5)

    def validate_locale(self, value: str) -> str:
        try:
            return normalise_locale(value)
        except KbError as exc:
            raise serializers.ValidationError(str(exc)) from exc


class BotQuestion(serializers.Serializer):
    text = serializers.CharField(max_length=1000, trim_whitespace=True)
    locale = serializers.CharField(max_length=10, required=False)

    def validate_locale(self, value: str) -> str:
        try:
            return normalise_locale(value)
        except KbError as exc:
            raise serializers.ValidationError(str(exc)) from exc


def _url(request: Request, article: Article) -> str:
    return request.build_absolute_uri(article.get_absolute_url())


class KbSearchView(APIView):
    permission_classes = [AllowAny]
    throttle_classes = [PublicApiThrottle]
    throttle_name = "search"

    @extend_schema(
        parameters=[SearchQuery],
        responses=inline_serializer(
            "KbSearchResults",
            {
                "results": inline_serializer(
                    "KbSearchHit",
                    {
                        "id": serializers.IntegerField(),
                        "title": serializers.CharField(),
                        "url": serializers.URLField(),
                        "score": serializers.FloatField(),
                        "snippet": serializers.CharField(help_text="HTML: escaped, <mark>ed"),
                    },
                    many=True,
                )
            },
        ),
    )
    def get(self, request: Request) -> Response:
        params = SearchQuery(data=request.query_params)
        params.is_valid(raise_exception=True)
        locale = params.validated_data.get("locale") or settings.KB_DEFAULT_LOCALE
        result = search.search(
            user=request.user, query=params.validated_data["q"], locale=locale,
            limit=params.validated_data["limit"],
        )  # fmt: skip
        search_log_record(
            query=result.query, locale=locale, source=SearchLog.Source.API, user=request.user,
            results=[h.article_id for h in result.hits], took_ms=result.took_ms,
        )  # fmt: skip
        return Response(
            {
                "results": [
                    {
                        "id": hit.article_id,
                        "title": hit.article.title,
                        "url": _url(request, hit.article),
                        "score": round(hit.score, 6),
                        "snippet": hit.snippet,
                    }
                    for hit in result.hits
                    if hit.article is not None
                ]
            }
        )


class BotAnswerView(APIView):
    permission_classes = [AllowAny]
    throttle_classes = [PublicApiThrottle]
    throttle_name = "bot"

    @extend_schema(
        request=BotQuestion,
        responses=inline_serializer(
            "BotAnswer",
            {
                "answered": serializers.BooleanField(),
                "reply": serializers.CharField(),
                "articles": inline_serializer(
                    "BotArticle",
                    {
                        "id": serializers.IntegerField(),
                        "title": serializers.CharField(),
                        "url": serializers.URLField(),
                    },
                    many=True,
                ),
                "handover": serializers.BooleanField(),
            },
        ),
    )
    def post(self, request: Request) -> Response:
        body = BotQuestion(data=request.data)
        body.is_valid(raise_exception=True)
        locale = body.validated_data.get("locale") or settings.KB_DEFAULT_LOCALE
        answer = bot_answer(user=request.user, text=body.validated_data["text"], locale=locale)
        return Response(
            {
                "answered": answer.answered,
                "reply": answer.reply,
                "articles": [
                    {"id": a.pk, "title": a.title, "url": _url(request, a)} for a in answer.articles
                ],
                "handover": answer.handover,
            }
        )

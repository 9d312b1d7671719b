"""The agent's notifications over the API: list them, mark one or all read."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from .. import services
from ..models import Notification
from .views import AGENT_ONLY, ApiPagination


class NotificationSerializer(serializers.ModelSerializer):
    ticket = serializers.SerializerMethodField(help_text="The ticket's number, if any.")
    read = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "kind", "title", "body", "ticket", "created_at", "read", "read_at"]
        read_only_fields = fields

    def get_ticket(self, row: Notification) -> int | None:
        return row.ticket.number if row.ticket is not None else None

    def get_read(self, row: Notification) -> bool:
        return row.read_at is not None


class MarkedSerializer(serializers.Serializer):
    marked = serializers.IntegerField(help_text="How many notifications changed to read.")


@extend_schema_view(
    list=extend_schema(
        summary="My notifications, newest first",
        parameters=[OpenApiParameter("unread", bool, description="Only unread ones (`true`).")],
    ),
    retrieve=extend_schema(summary="One of my notifications"),
)
class NotificationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    permission_classes = AGENT_ONLY
    serializer_class = NotificationSerializer
    pagination_class = ApiPagination

    def get_queryset(self) -> QuerySet[Notification]:
        rows = Notification.objects.filter(recipient_id=self.request.user.pk).select_related(
            "ticket"
        )
        if self.request.query_params.get("unread") == "true":
            rows = rows.filter(read_at__isnull=True)
        return rows.order_by("-created_at", "-id")

    @extend_schema(
        summary="Mark one notification read",
        request=None,
        responses={200: MarkedSerializer, 404: OpenApiResponse(description="Not yours.")},
    )
    @action(detail=True, methods=["post"])
    def read(self, request: Request, pk: str | None = None) -> Response:
        row = self.get_object()
        marked = services.notification_mark_read(user=request.user, notification_id=row.pk)
        return Response({"marked": marked})

    @extend_schema(
        summary="Mark all my notifications read", request=None, responses=MarkedSerializer
    )
    @action(detail=False, methods=["post"], url_path="read-all")
    def read_all(self, request: Request, **kwargs: Any) -> Response:
        return Response({"marked": services.notification_mark_read(user=request.user)})

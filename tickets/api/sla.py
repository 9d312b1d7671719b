"""SLA over the API: policies (agents read, admins change) and one ticket's targets (anyone who
may see the ticket; 404 for everyone else)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status, viewsets
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import sla_services
from ..access import visible_tickets
from ..roles import is_admin, is_agent
from ..sla import DEFAULT_PAUSE_ON, DEFAULT_PAUSE_TARGETS
from ..sla_models import SlaPolicy
from .views import ApiPagination


class SlaPolicyPermission(BasePermission):
    message = "Only agents may read SLA policies, and only admins may change them."

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return is_agent(request.user)
        return is_admin(request.user)


@extend_schema_field(OpenApiTypes.OBJECT)
class AnyJsonField(serializers.JSONField):
    """Shape checked by the services, which name what is wrong."""


class SlaPolicySerializer(serializers.ModelSerializer):
    calendar = serializers.IntegerField(source="calendar_id", allow_null=True)
    conditions = AnyJsonField()
    targets = AnyJsonField()
    pause_on = AnyJsonField()
    pause_targets = AnyJsonField()

    class Meta:
        model = SlaPolicy
        fields = [
            "id",
            "name",
            "position",
            "active",
            "conditions",
            "calendar",
            "targets",
            "pause_on",
            "pause_targets",
            "created_at",
            "updated_at",
        ]


class SlaPolicyWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    position = serializers.IntegerField(required=False, min_value=0)
    active = serializers.BooleanField(required=False, default=True)
    conditions = AnyJsonField(required=False, default=dict)
    calendar = serializers.IntegerField(required=False, allow_null=True, default=None)
    targets = AnyJsonField()
    pause_on = serializers.ListField(
        child=serializers.CharField(), required=False, default=lambda: list(DEFAULT_PAUSE_ON)
    )
    pause_targets = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        default=lambda: [m.value for m in DEFAULT_PAUSE_TARGETS],
    )


def _policy_input(data: dict[str, Any], base: SlaPolicy | None) -> sla_services.PolicyInput:
    def pick(key: str, current: Any) -> Any:
        return data[key] if key in data else current

    return sla_services.PolicyInput(
        name=pick("name", base.name if base else ""),
        position=pick("position", base.position if base else None),
        conditions=pick("conditions", base.conditions if base else {}),
        calendar_id=pick("calendar", base.calendar_id if base else None),
        targets=pick("targets", base.targets if base else {}),
        pause_on=pick("pause_on", base.pause_on if base else list(DEFAULT_PAUSE_ON)),
        pause_targets=pick(
            "pause_targets",
            base.pause_targets if base else [m.value for m in DEFAULT_PAUSE_TARGETS],
        ),
        active=pick("active", base.active if base else True),
    )


def _refused(exc: sla_services.SlaPolicyError) -> Response:
    return Response({exc.field: [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)


@extend_schema(tags=["sla"])
class SlaPolicyViewSet(viewsets.ModelViewSet):
    """Ordered SLA policies: the first whose conditions match a ticket applies."""

    permission_classes = [IsAuthenticated, SlaPolicyPermission]
    serializer_class = SlaPolicySerializer
    pagination_class = ApiPagination
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[SlaPolicy]:
        return SlaPolicy.objects.order_by("position", "id")

    @extend_schema(request=SlaPolicyWriteSerializer, responses={201: SlaPolicySerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        form = SlaPolicyWriteSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = dict(form.validated_data)
        try:
            policy = sla_services.sla_policy_create(data=_policy_input(data, None))
        except sla_services.SlaPolicyError as exc:
            return _refused(exc)
        return Response(SlaPolicySerializer(policy).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=SlaPolicyWriteSerializer, responses={200: SlaPolicySerializer})
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        policy = self.get_object()
        partial = kwargs.get("partial", False)
        form = SlaPolicyWriteSerializer(data=request.data, partial=partial)
        form.is_valid(raise_exception=True)
        data = {k: v for k, v in form.validated_data.items() if k in request.data or not partial}
        try:
            policy = sla_services.sla_policy_update(policy=policy, data=_policy_input(data, policy))
        except sla_services.SlaPolicyError as exc:
            return _refused(exc)
        return Response(SlaPolicySerializer(policy).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        sla_services.sla_policy_delete(policy=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class SlaTargetSerializer(serializers.Serializer):
    metric = serializers.ChoiceField(
        choices=["first_reply", "next_reply", "periodic_update", "resolution"]
    )
    cycle = serializers.IntegerField()
    due_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    breached = serializers.BooleanField()
    breached_at = serializers.DateTimeField(allow_null=True)
    paused = serializers.BooleanField()


class TicketSlaSerializer(serializers.Serializer):
    policy = serializers.CharField(allow_null=True)
    targets = SlaTargetSerializer(many=True)


class TicketSlaView(APIView):
    """`GET /api/v1/tickets/{number}/sla/`: the ticket's targets, computed now from its
    timeline. For anyone who may see the ticket (customers theirs); 404 otherwise."""

    permission_classes = [IsAuthenticated]

    @extend_schema(summary="The ticket's SLA targets", responses=TicketSlaSerializer)
    def get(self, request: Request, number: int) -> Response:
        ticket = visible_tickets(request.user).filter(number=number).first()
        if ticket is None:
            return Response({"detail": "No such ticket."}, status=status.HTTP_404_NOT_FOUND)
        computed = sla_services.ticket_sla(ticket)
        body = {
            "policy": computed.policy.name if computed.policy else None,
            "targets": [
                {
                    "metric": t.metric.value,
                    "cycle": t.cycle,
                    "due_at": t.due_at,
                    "completed_at": t.completed_at,
                    "breached": t.breached,
                    "breached_at": t.breached_at,
                    "paused": t.paused,
                }
                for t in computed.targets
            ]
            # a next-reply or update target the policy sets that has not started yet
            + [
                {
                    "metric": m.value,
                    "cycle": 0,
                    "due_at": None,
                    "completed_at": None,
                    "breached": False,
                    "breached_at": None,
                    "paused": False,
                }
                for m in computed.waiting
            ],
        }
        return Response(TicketSlaSerializer(body).data)

"""Business calendars over the API: agents read and ask for due times, admins change them."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from .. import calendar_services as services
from ..calendar_import import HolidayInput
from ..calendar_models import Calendar
from ..calendars import (
    CalendarError,
    add_business_minutes,
    business_minutes_between,
    check_timezone,
    parse_weekly_hours,
)
from ..models import Group
from ..roles import is_admin, is_agent
from .views import ApiPagination

# A due time ten years of round-the-clock minutes away is far enough for any target.
MAX_MINUTES = 10 * 366 * 24 * 60
_PLUS_AS_SPACE = re.compile(r"^(.*\d)\s(\d{2}(?::?\d{2})?)$")


class CalendarPermission(BasePermission):
    """Agents may read calendars and ask them for due times; only admins change them."""

    message = "Only agents may read calendars, and only admins may change them."

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return is_agent(request.user)
        return is_admin(request.user)


# --- serializers --------------------------------------------------------------------------------


def _parse_date(value: object, what: str) -> date:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise serializers.ValidationError(f"{what}: {value!r} is not a date written YYYY-MM-DD.")


def _parse_month_day(value: object) -> date:
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d{2}-\d{2}", text):
            try:
                return date.fromisoformat(f"{services.YEARLY_YEAR}-{text}")
            except ValueError:
                pass
        elif re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return _parse_date(text, "yearly holiday")
    raise serializers.ValidationError(
        f"yearly holiday: {value!r} is not a day written MM-DD (such as 12-25)."
    )


@extend_schema_field(
    {
        "type": "array",
        "items": {
            "oneOf": [
                {"type": "string", "format": "date"},
                {
                    "type": "object",
                    "properties": {
                        "date": {"type": "string", "format": "date"},
                        "name": {"type": "string"},
                        "yearly": {"type": "boolean"},
                    },
                    "required": ["date"],
                },
            ]
        },
    }
)
class HolidaysField(serializers.Field):
    """`["2026-12-25", {"date": "2027-01-01", "name": "New Year", "yearly": true}]`."""

    def to_internal_value(self, data: Any) -> list[HolidayInput]:
        if not isinstance(data, list):
            raise serializers.ValidationError('Give a list of dates such as ["2026-12-25"].')
        result = []
        for item in data:
            if isinstance(item, dict):
                day = _parse_date(item.get("date"), "holiday")
                name = item.get("name") or ""
                if not isinstance(name, str):
                    raise serializers.ValidationError("holiday: a name must be text.")
                result.append(HolidayInput(day, name, bool(item.get("yearly", False))))
            else:
                result.append(HolidayInput(_parse_date(item, "holiday")))
        return result

    def to_representation(self, value: Any) -> list[str]:
        return value


@extend_schema_field({"type": "array", "items": {"type": "string", "pattern": r"^\d{2}-\d{2}$"}})
class YearlyHolidaysField(serializers.Field):
    def to_internal_value(self, data: Any) -> list[HolidayInput]:
        if not isinstance(data, list):
            raise serializers.ValidationError('Give a list of days such as ["12-25"].')
        return [HolidayInput(_parse_month_day(item), yearly=True) for item in data]

    def to_representation(self, value: Any) -> list[str]:
        return value


class HolidayDetailSerializer(serializers.Serializer):
    date = serializers.DateField()
    name = serializers.CharField()
    yearly = serializers.BooleanField()
    source = serializers.CharField()  # type: ignore[assignment]


class CalendarSerializer(serializers.ModelSerializer):
    holidays = serializers.SerializerMethodField()
    yearly_holidays = serializers.SerializerMethodField()
    holiday_details = serializers.SerializerMethodField()
    groups = serializers.SerializerMethodField()

    class Meta:
        model = Calendar
        fields = [
            "id",
            "name",
            "timezone",
            "hours",
            "holidays",
            "yearly_holidays",
            "holiday_details",
            "is_default",
            "groups",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_holidays(self, obj: Calendar) -> list[str]:
        return [h.date.isoformat() for h in obj.holidays.all() if not h.yearly]

    def get_yearly_holidays(self, obj: Calendar) -> list[str]:
        return sorted(f"{h.date:%m-%d}" for h in obj.holidays.all() if h.yearly)

    @extend_schema_field(HolidayDetailSerializer(many=True))
    def get_holiday_details(self, obj: Calendar) -> list[dict[str, Any]]:
        return [
            {"date": h.date, "name": h.name, "yearly": h.yearly, "source": h.source}
            for h in obj.holidays.all()
        ]

    def get_groups(self, obj: Calendar) -> list[int]:
        return sorted(group.pk for group in obj.groups.all())


class CalendarWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    timezone = serializers.CharField(max_length=64, help_text="IANA name, e.g. Europe/Berlin.")
    hours = serializers.JSONField(
        help_text='{"mon": [["09:00", "17:00"]], ...}: a day left out is closed; "24:00" is '
        "midnight at the end of the day; several segments per day may not overlap."
    )
    holidays = HolidaysField(
        required=False,
        help_text='Single closed dates: ["2026-12-25"] or {"date", "name", "yearly"} objects.',
    )
    yearly_holidays = YearlyHolidaysField(
        required=False, help_text='Closed every year: ["12-25", "01-01"].'
    )
    is_default = serializers.BooleanField(required=False)
    groups = serializers.PrimaryKeyRelatedField(
        queryset=Group.objects.all(), many=True, required=False
    )

    def validate_timezone(self, value: str) -> str:
        try:
            check_timezone(value.strip())
        except CalendarError as exc:
            raise serializers.ValidationError(str(exc)) from exc
        return value.strip()

    def validate_hours(self, value: Any) -> Any:
        try:
            parse_weekly_hours(value)
        except CalendarError as exc:
            raise serializers.ValidationError(str(exc)) from exc
        return value


class DueSerializer(serializers.Serializer):
    due = serializers.DateTimeField(help_text="ISO 8601 in the calendar's timezone.")


class ElapsedSerializer(serializers.Serializer):
    minutes = serializers.IntegerField(help_text="Whole business minutes, rounded down.")


# --- query parameters ---------------------------------------------------------------------------


def _bad(field: str, message: str) -> ValidationError:
    return ValidationError({"detail": f"{field}: {message}", field: [message]})


def _instant(request: Request, field: str) -> datetime:
    raw = request.query_params.get(field)
    example = "2026-12-04T16:30:00+01:00"
    if raw is None or not raw.strip():
        raise _bad(field, f"required: an ISO 8601 date-time with a UTC offset, such as {example}.")
    text = raw.strip()
    # An unencoded "+01:00" in a query string arrives as " 01:00".
    if (match := _PLUS_AS_SPACE.match(text)) is not None:
        text = f"{match.group(1)}+{match.group(2)}"
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise _bad(field, f"{raw!r} is not an ISO 8601 date-time (such as {example}).") from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise _bad(field, f"{raw!r} has no UTC offset (naive): add Z or one such as +01:00.")
    return value


def _minutes(request: Request) -> int:
    raw = (request.query_params.get("minutes") or "").strip()
    if not re.fullmatch(r"\d+", raw):
        raise _bad("minutes", f"{raw!r} is not a whole number of minutes (0 or more).")
    value = int(raw)
    if value > MAX_MINUTES:
        raise _bad("minutes", f"at most {MAX_MINUTES} minutes.")
    return value


# --- the viewset --------------------------------------------------------------------------------


def _holiday_inputs(calendar: Calendar | None, data: dict[str, Any]) -> list[HolidayInput]:
    """Single dates from `holidays` (or the current ones), yearly ones from `yearly_holidays`
    (or the current ones), plus objects in `holidays` marked yearly."""
    current = list(calendar.holidays.all()) if calendar is not None else []
    if "holidays" in data:
        given: list[HolidayInput] = data["holidays"]
        singles = [h for h in given if not h.yearly]
        extra_yearly = [h for h in given if h.yearly]
    else:
        singles = [HolidayInput(h.date, h.name) for h in current if not h.yearly]
        extra_yearly = []
    if "yearly_holidays" in data:
        yearly = list(data["yearly_holidays"])
    else:
        yearly = [HolidayInput(h.date, h.name, True) for h in current if h.yearly]
    return singles + yearly + extra_yearly


DUE_PARAMS = [
    OpenApiParameter(
        "start",
        OpenApiTypes.DATETIME,
        required=True,
        description="ISO 8601 with a UTC offset, e.g. 2026-12-04T16:30:00+01:00.",
    ),
    OpenApiParameter(
        "minutes",
        OpenApiTypes.INT,
        required=True,
        description="Business minutes to add (0 or more).",
    ),
]
ELAPSED_PARAMS = [
    OpenApiParameter(
        "start", OpenApiTypes.DATETIME, required=True, description="ISO 8601 with a UTC offset."
    ),
    OpenApiParameter(
        "end",
        OpenApiTypes.DATETIME,
        required=True,
        description="ISO 8601 with a UTC offset; before start counts 0.",
    ),
]
BAD_INPUT = OpenApiResponse(description='Bad input: {"detail": reason, field: [reason]}.')
WRITE_EXAMPLE = OpenApiExample(
    "Office hours",
    value={
        "name": "Berlin office",
        "timezone": "Europe/Berlin",
        "hours": {
            day: [["09:00", "12:00"], ["13:00", "17:00"]]
            for day in ["mon", "tue", "wed", "thu", "fri"]
        },
        "holidays": ["2026-12-24", "2026-12-31"],
        "yearly_holidays": ["12-25", "01-01"],
    },
    request_only=True,
)


@extend_schema_view(
    list=extend_schema(summary="Business calendars"),
    retrieve=extend_schema(summary="One business calendar"),
    create=extend_schema(
        summary="Create a calendar (admins)",
        request=CalendarWriteSerializer,
        responses={201: CalendarSerializer, 400: BAD_INPUT},
        examples=[WRITE_EXAMPLE],
    ),
    update=extend_schema(
        summary="Replace a calendar (admins)",
        request=CalendarWriteSerializer,
        responses={200: CalendarSerializer, 400: BAD_INPUT},
    ),
    partial_update=extend_schema(
        summary="Change some of a calendar (admins)",
        request=CalendarWriteSerializer,
        responses={200: CalendarSerializer, 400: BAD_INPUT},
    ),
    destroy=extend_schema(summary="Delete a calendar (admins); its groups use the default"),
)
class CalendarViewSet(viewsets.ModelViewSet):
    permission_classes = [IsAuthenticated, CalendarPermission]
    serializer_class = CalendarSerializer
    pagination_class = ApiPagination
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[Calendar]:
        return services.calendars_for_listing()

    def _render(self, calendar: Calendar, code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=calendar.pk)
        return Response(CalendarSerializer(fresh).data, status=code)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        form = CalendarWriteSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        try:
            calendar = services.calendar_create(
                name=data["name"],
                timezone_name=data["timezone"],
                hours=data["hours"],
                holidays=_holiday_inputs(None, data),
                is_default=data.get("is_default", False),
                groups=data.get("groups", []),
            )
        except services.CalendarServiceError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return self._render(calendar, status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        partial = kwargs.get("partial", False)
        calendar = self.get_object()
        form = CalendarWriteSerializer(data=request.data, partial=partial)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        if not partial:
            data.setdefault("holidays", [])
            data.setdefault("yearly_holidays", [])
        try:
            with transaction.atomic():
                services.calendar_update(
                    calendar=calendar,
                    name=data.get("name", calendar.name),
                    timezone_name=data.get("timezone", calendar.timezone),
                    hours=data.get("hours", calendar.hours),
                    holidays=_holiday_inputs(calendar, data),
                )
                if data.get("is_default") is True:
                    services.calendar_set_default(calendar=calendar)
                elif data.get("is_default") is False and calendar.is_default:
                    services.calendar_unset_default(calendar=calendar)
                if "groups" in data:
                    services.calendar_assign_groups(calendar=calendar, groups=data["groups"])
        except services.CalendarServiceError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return self._render(calendar)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.calendar_delete(calendar=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="When a target of N business minutes from `start` is due",
        parameters=DUE_PARAMS,
        responses={200: DueSerializer, 400: BAD_INPUT},
    )
    @action(detail=True, methods=["get"])
    def due(self, request: Request, pk: str) -> Response:
        calendar = self.get_object()
        start, minutes = _instant(request, "start"), _minutes(request)
        try:
            due = add_business_minutes(services.calendar_spec(calendar), start, minutes)
        except CalendarError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response({"due": due.isoformat()})

    @extend_schema(
        summary="Business minutes between `start` and `end`",
        parameters=ELAPSED_PARAMS,
        responses={200: ElapsedSerializer, 400: BAD_INPUT},
    )
    @action(detail=True, methods=["get"])
    def elapsed(self, request: Request, pk: str) -> Response:
        calendar = self.get_object()
        start, end = _instant(request, "start"), _instant(request, "end")
        try:
            minutes = business_minutes_between(services.calendar_spec(calendar), start, end)
        except CalendarError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response({"minutes": minutes})

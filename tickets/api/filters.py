"""Query-string filters of the API (django-filter), validated before they touch a query."""

from __future__ import annotations

from typing import Any

import django_filters as df
from django.core.validators import RegexValidator
from django.db.models import Exists, OuterRef, Q, QuerySet
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter
from rest_framework.request import Request

from ..models import Channel, Contact, Identity, Message, Ticket
from ..search.engine import SearchError, apply_search
from ..search.parser import parse_query


class StableOrderingFilter(OrderingFilter):
    """Ordering that always ends on the primary key, so pages never overlap or skip rows when
    many rows share a value (priority, a second of updated_at)."""

    def filter_queryset(
        self, request: Request, queryset: QuerySet[Any], view: Any
    ) -> QuerySet[Any]:
        ordering = self.get_ordering(request, queryset, view)
        if not ordering:
            return queryset
        ordering = list(ordering)
        if not any(term.lstrip("-") in ("id", "pk", "number") for term in ordering):
            ordering.append("-id")
        return queryset.order_by(*ordering)


class TicketFilter(df.FilterSet):
    status = df.MultipleChoiceFilter(
        choices=Ticket.Status.choices, help_text="Repeat for several: ?status=new&status=open"
    )
    priority = df.TypedChoiceFilter(choices=Ticket.Priority.choices, coerce=int)
    channel = df.ChoiceFilter(choices=Channel.choices)
    group = df.NumberFilter(field_name="group_id", help_text="Group id.")
    assignee = df.CharFilter(
        method="filter_assignee",
        validators=[RegexValidator(r"^(none|\d+)$", "Use an agent's id or 'none'.")],
        help_text="An agent's id, or 'none' for unassigned tickets.",
    )
    tag = df.CharFilter(field_name="tags__name", help_text="Tag name.")
    contact = df.NumberFilter(field_name="contact_id", help_text="Contact id.")
    updated_after = df.IsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")
    updated_before = df.IsoDateTimeFilter(field_name="updated_at", lookup_expr="lt")
    q = df.CharFilter(
        method="filter_q",
        help_text='Search: words, "phrases", a #number and operators (status:open tag:refund '
        "from:alice@example.com assignee:me group:Billing priority:high channel:email "
        "created>2026-11-01 updated<2026-12-01, -tag:x to leave out).",
    )

    class Meta:
        model = Ticket
        fields = [
            "status",
            "priority",
            "channel",
            "group",
            "assignee",
            "tag",
            "contact",
            "updated_after",
            "updated_before",
            "q",
        ]

    def filter_assignee(
        self, queryset: QuerySet[Ticket], name: str, value: str
    ) -> QuerySet[Ticket]:
        if value == "none":
            return queryset.filter(assignee__isnull=True)
        return queryset.filter(assignee_id=int(value))

    def filter_q(self, queryset: QuerySet[Ticket], name: str, value: str) -> QuerySet[Ticket]:
        """The desk's search language (words, "phrases", status:, tag:, from:, …); results
        keep the list's ordering. `/api/v1/search/` ranks them and adds snippets."""
        text = value.strip()
        if not text:
            return queryset
        try:
            return apply_search(queryset, self.request.user, parse_query(text))
        except SearchError as exc:
            raise ValidationError({"q": exc.messages}) from exc


class ContactFilter(df.FilterSet):
    q = df.CharFilter(method="filter_q", help_text="Part of the name or of any identity.")
    organisation = df.NumberFilter(field_name="organisation_id", help_text="Organisation id.")

    class Meta:
        model = Contact
        fields = ["q", "organisation"]

    def filter_q(self, queryset: QuerySet[Contact], name: str, value: str) -> QuerySet[Contact]:
        text = value.strip()
        if not text:
            return queryset
        # Exists, not a join: a contact with two matching identities is still one row.
        identity = Identity.objects.filter(contact=OuterRef("pk"), value__icontains=text)
        return queryset.filter(Q(name__icontains=text) | Exists(identity))


class MessageFilter(df.FilterSet):
    ticket = df.NumberFilter(field_name="ticket__number", help_text="Ticket number.")
    kind = df.ChoiceFilter(choices=Message.Kind.choices)

    class Meta:
        model = Message
        fields = ["ticket", "kind"]

"""The agent REST API: thin views that parse input, pass the visibility gate, call a service
and render. Every queryset comes from `tickets.api.selectors` (built on `tickets.access`)."""

from __future__ import annotations

import hashlib
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.decorators import action
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from .. import saved_views, services
from .. import selectors as desk_selectors
from ..access import agent_tickets
from ..identities import InvalidIdentity, equivalent_kinds, normalise
from ..models import Contact, Identity, Message, SavedView, Ticket
from ..pagination import CappedPaginator
from ..roles import is_agent
from ..search.engine import (
    SEARCH_CANDIDATES,
    SearchError,
    apply_search,
    rank_order,
    search_snippets,
)
from ..search.parser import parse_query
from ..services import ServiceError
from . import selectors
from .filters import ContactFilter, MessageFilter, StableOrderingFilter, TicketFilter
from .permissions import IsAgent, IsSupervisor
from .serializers import (
    CallSerializer,
    ContactCreateSerializer,
    ContactMergeSerializer,
    ContactSerializer,
    ContactWriteSerializer,
    GroupSerializer,
    MacroSerializer,
    MeSerializer,
    MessageCreateSerializer,
    MessageSerializer,
    SavedViewSerializer,
    SearchParamsSerializer,
    TagSerializer,
    TicketCreateSerializer,
    TicketEventSerializer,
    TicketMergeSerializer,
    TicketSearchResultSerializer,
    TicketSerializer,
    TicketUpdateSerializer,
    TokenRequestSerializer,
    TokenSerializer,
)

User = get_user_model()

AGENT_ONLY = [IsAuthenticated, IsAgent]
BAD_REQUEST = OpenApiResponse(description='The change is not allowed: {"detail": reason}.')


class ApiPagination(PageNumberPagination):
    """`count` stops at 10,000 (then `count_capped` is true): counting a million rows for every
    page would cost more than the page itself."""

    page_size_query_param = "page_size"
    max_page_size = 200
    django_paginator_class = CappedPaginator

    def get_paginated_response(self, data: Any) -> Response:
        response = super().get_paginated_response(data)
        paginator = self.page.paginator if self.page is not None else None
        response.data["count_capped"] = bool(getattr(paginator, "capped", False))
        return response

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        result = super().get_paginated_response_schema(schema)
        result["properties"]["count_capped"] = {"type": "boolean"}
        return result


def _refused(exc: Exception) -> Response:
    return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)


def _paginated(view: viewsets.GenericViewSet, qs: QuerySet[Any], serializer: Any) -> Response:
    page = view.paginate_queryset(qs)
    return view.get_paginated_response(serializer(page, many=True).data)


# --- tickets ------------------------------------------------------------------------------------


def _apply_ticket_changes(ticket: Ticket, data: dict[str, Any], actor: Any) -> Ticket:
    """Group before assignee (assignment checks the group), status last (an assignment moves a
    new ticket to open; an explicit status wins)."""
    if "subject" in data:
        ticket = services.ticket_set_subject(ticket=ticket, subject=data["subject"], actor=actor)
    if "group" in data:
        ticket = services.ticket_set_group(ticket=ticket, group=data["group"], actor=actor)
    if "assignee" in data:
        ticket = services.ticket_assign(ticket=ticket, agent=data["assignee"], actor=actor)
    if "tags" in data:
        ticket = services.ticket_set_tags(ticket=ticket, names=data["tags"], actor=actor)
    if "priority" in data:
        ticket = services.ticket_set_priority(ticket=ticket, priority=data["priority"], actor=actor)
    if "status" in data:
        ticket = services.ticket_set_status(ticket=ticket, status=data["status"], actor=actor)
    return ticket


@extend_schema_view(
    list=extend_schema(summary="Tickets the agent may work on"),
    retrieve=extend_schema(summary="One ticket"),
)
class TicketViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = AGENT_ONLY
    serializer_class = TicketSerializer
    pagination_class = ApiPagination
    lookup_field = "number"
    lookup_value_regex = r"\d+"
    filter_backends = [DjangoFilterBackend, StableOrderingFilter]
    filterset_class = TicketFilter
    ordering_fields = ["updated_at", "created_at", "priority", "number"]
    ordering = ["-updated_at", "-id"]

    def get_queryset(self) -> QuerySet[Ticket]:
        if self.action in ("list", "retrieve"):
            return selectors.api_tickets(self.request.user)
        return agent_tickets(self.request.user)

    @extend_schema(
        summary="Open a ticket for a contact",
        request=TicketCreateSerializer,
        responses={201: TicketSerializer, 400: BAD_REQUEST},
    )
    def create(self, request: Request) -> Response:
        form = TicketCreateSerializer(data=request.data, context=self.get_serializer_context())
        form.is_valid(raise_exception=True)
        data = form.validated_data
        try:
            with transaction.atomic():
                contact = data.get("contact") or services.contact_resolve(
                    kind=Identity.Kind.EMAIL, value=data["email"], name=data.get("name", "")
                )
                ticket = services.ticket_create(
                    contact=contact,
                    subject=data["subject"],
                    text=data["text"],
                    channel=data["channel"],
                    actor=request.user,
                    group=data.get("group"),
                    priority=data["priority"],
                )
        except (ServiceError, InvalidIdentity) as exc:
            return _refused(exc)
        body = TicketSerializer(selectors.ticket_for_response(ticket.pk)).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change status, priority, group, assignee, tags or subject",
        request=TicketUpdateSerializer,
        responses={200: TicketSerializer, 400: BAD_REQUEST},
    )
    def partial_update(self, request: Request, number: str) -> Response:
        ticket = self.get_object()
        form = TicketUpdateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            with transaction.atomic():  # all of the changes, or none of them
                ticket = _apply_ticket_changes(ticket, form.validated_data, request.user)
        except ServiceError as exc:
            return _refused(exc)
        return Response(TicketSerializer(selectors.ticket_for_response(ticket.pk)).data)

    @extend_schema(
        methods=["GET"],
        summary="The ticket's messages, internal notes included",
        responses=MessageSerializer(many=True),
    )
    @extend_schema(
        methods=["POST"],
        summary="Reply to the customer or add an internal note",
        request=MessageCreateSerializer,
        responses={201: MessageSerializer, 400: BAD_REQUEST},
    )
    @action(detail=True, methods=["get", "post"], filter_backends=[])
    def messages(self, request: Request, number: str) -> Response:
        ticket = self.get_object()
        if request.method == "GET":
            return _paginated(self, selectors.ticket_messages(ticket), MessageSerializer)
        form = MessageCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        if data["kind"] == "reply" and "channel" in data:
            reachable = [value for value, _ in desk_selectors.reply_channels(ticket)]
            if data["channel"] not in reachable:
                raise serializers.ValidationError(
                    {
                        "channel": [
                            f"The contact cannot be reached by {data['channel']}; "
                            f"use one of: {', '.join(reachable)}."
                        ]
                    }
                )
        try:
            with transaction.atomic():
                message = self._post_message(ticket, data, request.user)
        except ServiceError as exc:
            return _refused(exc)
        body = MessageSerializer(selectors.message_for_response(message.pk)).data
        return Response(body, status=status.HTTP_201_CREATED)

    @staticmethod
    def _post_message(ticket: Ticket, data: dict[str, Any], author: Any) -> Message:
        if data["kind"] == "reply":
            return services.ticket_reply(
                ticket=ticket,
                author=author,
                text=data["text"],
                status=data.get("status"),
                channel=data.get("channel"),
            )
        message = services.ticket_note(ticket=ticket, author=author, text=data["text"])
        if data.get("status"):
            services.ticket_set_status(ticket=ticket, status=data["status"], actor=author)
        return message

    @extend_schema(
        summary="Log a phone call taken or made by hand (an internal note with the call)",
        request=CallSerializer,
        responses={201: MessageSerializer, 400: BAD_REQUEST},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def calls(self, request: Request, number: str) -> Response:
        ticket = self.get_object()
        form = CallSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        try:
            message = services.call_log(
                ticket=ticket,
                agent=request.user,
                direction=data["direction"],
                duration_seconds=data["duration_seconds"],
                notes=data["notes"],
            )
        except ServiceError as exc:
            return _refused(exc)
        body = MessageSerializer(selectors.message_for_response(message.pk)).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(summary="The ticket's audit trail", responses=TicketEventSerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[])
    def events(self, request: Request, number: str) -> Response:
        ticket = self.get_object()
        return _paginated(self, selectors.ticket_events(ticket), TicketEventSerializer)

    @extend_schema(
        summary="Merge this ticket into another (this one is closed)",
        request=TicketMergeSerializer,
        responses={200: TicketSerializer, 400: BAD_REQUEST},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def merge(self, request: Request, number: str) -> Response:
        source = self.get_object()
        form = TicketMergeSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        target = agent_tickets(request.user).filter(number=form.validated_data["into"]).first()
        if target is None:
            raise serializers.ValidationError({"into": ["No such ticket."]})
        try:
            target = services.ticket_merge(source=source, target=target, actor=request.user)
        except ServiceError as exc:
            return _refused(exc)
        return Response(TicketSerializer(selectors.ticket_for_response(target.pk)).data)


# --- contacts -----------------------------------------------------------------------------------


def _identity_taken(kind: str, value: str) -> bool:
    return Identity.objects.filter(kind__in=equivalent_kinds(kind), value=value).exists()


def _contact_create(data: dict[str, Any]) -> Contact:
    """A new contact with all its identities; refuses identities someone already owns rather
    than hand back a contact the agent might not be allowed to see."""
    identities = [(i["kind"], normalise(i["kind"], i["value"])) for i in data["identities"]]
    for kind, value in identities:
        if _identity_taken(kind, value):
            raise ServiceError(f"{kind} {value} already belongs to a contact.")
    (kind, value), rest = identities[0], identities[1:]
    contact = services.contact_resolve(kind=kind, value=value, name=data.get("name", ""))
    for kind, value in rest:
        services.identity_add(contact=contact, kind=kind, value=value)
    if "organisation" in data or "notes" in data:
        services.contact_update(
            contact=contact,
            name=contact.name,
            organisation=data.get("organisation", contact.organisation),
            notes=data.get("notes", contact.notes),
        )
    return contact


@extend_schema_view(
    list=extend_schema(summary="Contacts the agent may see"),
    retrieve=extend_schema(summary="One contact with its identities"),
)
class ContactViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = AGENT_ONLY
    serializer_class = ContactSerializer
    pagination_class = ApiPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = ContactFilter

    def get_queryset(self) -> QuerySet[Contact]:
        return selectors.api_contacts(self.request.user)

    @extend_schema(
        summary="Add a contact with its identities",
        request=ContactCreateSerializer,
        responses={201: ContactSerializer, 400: BAD_REQUEST},
    )
    def create(self, request: Request) -> Response:
        form = ContactCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            with transaction.atomic():
                contact = _contact_create(form.validated_data)
        except (ServiceError, InvalidIdentity) as exc:
            return _refused(exc)
        body = ContactSerializer(selectors.contact_for_response(contact.pk)).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a contact's name, organisation or notes",
        request=ContactWriteSerializer,
        responses={200: ContactSerializer},
    )
    def partial_update(self, request: Request, pk: str) -> Response:
        contact = self.get_object()
        form = ContactWriteSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        services.contact_update(
            contact=contact,
            name=data.get("name", contact.name),
            organisation=data["organisation"] if "organisation" in data else contact.organisation,
            notes=data.get("notes", contact.notes),
            actor=request.user,
        )
        return Response(ContactSerializer(selectors.contact_for_response(contact.pk)).data)

    @extend_schema(
        summary="Merge this contact into another (supervisors and admins)",
        request=ContactMergeSerializer,
        responses={200: ContactSerializer, 400: BAD_REQUEST},
    )
    @action(
        detail=True,
        methods=["post"],
        filter_backends=[],
        permission_classes=[IsAuthenticated, IsAgent, IsSupervisor],
    )
    def merge(self, request: Request, pk: str) -> Response:
        source = self.get_object()
        form = ContactMergeSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        into = form.validated_data["into"]
        target = selectors.visible_contacts(request.user).filter(pk=into).first()
        if target is None:
            raise serializers.ValidationError({"into": ["No such contact."]})
        try:
            target = services.contact_merge(source=source, target=target, actor=request.user)
        except ServiceError as exc:
            return _refused(exc)
        return Response(ContactSerializer(selectors.contact_for_response(target.pk)).data)


# --- read-only lists ----------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Messages of the tickets the agent may see"),
    retrieve=extend_schema(summary="One message"),
)
class MessageViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = AGENT_ONLY
    serializer_class = MessageSerializer
    pagination_class = ApiPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = MessageFilter

    def get_queryset(self) -> QuerySet[Message]:
        return selectors.api_messages(self.request.user)


class GroupViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    permission_classes = AGENT_ONLY
    serializer_class = GroupSerializer
    pagination_class = ApiPagination
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[Any]:
        return selectors.all_groups()


class TagViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    permission_classes = AGENT_ONLY
    serializer_class = TagSerializer
    pagination_class = ApiPagination
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[Any]:
        return selectors.all_tags()


class MacroViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    permission_classes = AGENT_ONLY
    serializer_class = MacroSerializer
    pagination_class = ApiPagination
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[Any]:
        return selectors.active_macros()


class MeView(APIView):
    permission_classes = AGENT_ONLY

    @extend_schema(summary="The agent making the request", responses=MeSerializer)
    def get(self, request: Request) -> Response:
        return Response(MeSerializer(request.user).data)


# --- tokens -------------------------------------------------------------------------------------


def token_throttle_key(email: str) -> str:
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    return TokenThrottle.cache_format % {"scope": TokenThrottle.scope, "ident": digest}


class TokenThrottle(AnonRateThrottle):
    """Password guesses per account, whatever address they come from (X-Forwarded-For can be
    forged, an email address in the request cannot be changed without changing the target)."""

    scope = "auth_token"
    rate = "10/minute"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        email = request.data.get("email") if hasattr(request.data, "get") else None
        if not isinstance(email, str) or not email.strip():
            return None
        return token_throttle_key(email)


class EmailAuthTokenSerializer(TokenRequestSerializer):
    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        user = _agent_by_email(attrs["email"], attrs["password"])
        if user is None:
            raise serializers.ValidationError(
                "Unable to log in with the email and password given.", code="authorization"
            )
        attrs["user"] = user
        return attrs


def _agent_by_email(email: str, password: str) -> Any:
    """Agents log in by email; the API issues tokens to agents only (customers have none)."""
    candidates = list(User.objects.filter(email__iexact=email.strip(), is_active=True))
    if not candidates:
        User().set_password(password)  # spend the hashing time anyway: no user enumeration
        return None
    for user in candidates:
        if user.check_password(password) and is_agent(user):
            return user
    return None


class TokenView(ObtainAuthToken):
    """POST email and password, get the agent's API token (`Authorization: Token <key>`)."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes = [TokenThrottle]
    serializer_class = EmailAuthTokenSerializer

    @extend_schema(
        summary="Exchange an agent's email and password for an API token",
        request=TokenRequestSerializer,
        responses={200: TokenSerializer},
        auth=[],
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        form = self.get_serializer(data=request.data)
        form.is_valid(raise_exception=True)
        token, _ = Token.objects.get_or_create(user=form.validated_data["user"])
        return Response({"token": token.key})


# --- search -------------------------------------------------------------------------------------


class SearchPagination(ApiPagination):
    """A search ranks at most `SEARCH_CANDIDATES` tickets; `count` stops there."""

    class django_paginator_class(CappedPaginator):  # noqa: N801 - DRF's attribute name
        cap = SEARCH_CANDIDATES


class SearchView(GenericAPIView):
    permission_classes = AGENT_ONLY
    serializer_class = TicketSearchResultSerializer
    pagination_class = SearchPagination
    queryset = Ticket.objects.none()  # for the schema; `get` reads through the gate

    @extend_schema(
        summary="Search tickets, best match first, with highlighted snippets",
        parameters=[SearchParamsSerializer],
        responses={200: TicketSearchResultSerializer(many=True), 400: BAD_REQUEST},
    )
    def get(self, request: Request) -> Response:
        params = SearchParamsSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        query = parse_query(params.validated_data["q"])
        try:
            found = apply_search(selectors.api_tickets(request.user), request.user, query)
        except SearchError as exc:
            return Response({"q": exc.messages}, status=status.HTTP_400_BAD_REQUEST)
        sort = params.validated_data["sort"]
        if sort == "relevance" and query.has_text:
            found = found.order_by(*rank_order(query))
        else:
            found = found.order_by(sort if sort != "relevance" else "-updated_at", "-id")
        page = self.paginate_queryset(found) or []
        snippets = search_snippets([t.pk for t in page], query)
        for ticket in page:
            ticket.search_snippet = snippets.get(ticket.pk)  # type: ignore[attr-defined]
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


# --- saved views --------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="The agent's saved views and those shared with their teams"),
    retrieve=extend_schema(summary="One saved view, with its live count"),
    create=extend_schema(summary="Save a view (personal, or shared with one of your teams)"),
    partial_update=extend_schema(summary="Change a saved view (owner, or supervisor if shared)"),
    update=extend_schema(summary="Replace a saved view (owner, or supervisor if shared)"),
    destroy=extend_schema(summary="Delete a saved view (owner, or supervisor if shared)"),
)
class SavedViewViewSet(viewsets.ModelViewSet):
    permission_classes = AGENT_ONLY
    serializer_class = SavedViewSerializer
    pagination_class = ApiPagination

    def get_queryset(self) -> QuerySet[SavedView]:
        return saved_views.visible_saved_views(self.request.user)

    def _with_counts(self, views: list[SavedView]) -> dict[str, Any]:
        return {
            **self.get_serializer_context(),
            "counts": saved_views.saved_view_counts(self.request.user, views),
        }

    def list(self, request: Request) -> Response:
        page = list(self.paginate_queryset(self.get_queryset()) or [])
        data = SavedViewSerializer(page, many=True, context=self._with_counts(page)).data
        return self.get_paginated_response(data)

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        view = self.get_object()
        return Response(SavedViewSerializer(view, context=self._with_counts([view])).data)

    def create(self, request: Request) -> Response:
        form = SavedViewSerializer(data=request.data, context=self.get_serializer_context())
        form.is_valid(raise_exception=True)
        data = form.validated_data
        try:
            view = saved_views.saved_view_save(
                owner=request.user,
                name=data["name"],
                filters=data.get("filters") or {},
                columns=data.get("columns") or [],
                sort=data.get("sort", ""),
                group=data.get("group"),
            )
        except saved_views.SavedViewError as exc:
            return _refused(exc)
        body = SavedViewSerializer(view, context=self._with_counts([view])).data
        return Response(body, status=status.HTTP_201_CREATED)

    def update(self, request: Request, pk: str | None = None, partial: bool = False) -> Response:
        view = self.get_object()
        form = SavedViewSerializer(
            view, data=request.data, partial=partial, context=self.get_serializer_context()
        )
        form.is_valid(raise_exception=True)
        try:
            view = saved_views.saved_view_update(
                view=view, actor=request.user, **dict(form.validated_data)
            )
        except saved_views.SavedViewError as exc:
            return _refused(exc)
        return Response(SavedViewSerializer(view, context=self._with_counts([view])).data)

    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        return self.update(request, pk, partial=True)

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        view = self.get_object()
        try:
            saved_views.saved_view_delete(view=view, actor=request.user)
        except saved_views.SavedViewError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_403_FORBIDDEN)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="The tickets of a saved view, in its sort",
        responses={200: TicketSearchResultSerializer(many=True), 400: BAD_REQUEST},
    )
    @action(detail=True, methods=["get"], pagination_class=SearchPagination)
    def tickets(self, request: Request, pk: str | None = None) -> Response:
        view = self.get_object()
        try:
            found = saved_views.saved_view_tickets(request.user, view)
        except SearchError as exc:
            return Response({"q": exc.messages}, status=status.HTTP_400_BAD_REQUEST)
        page = self.paginate_queryset(found) or []
        query = parse_query((view.filters or {}).get("q", "") or "")
        snippets = search_snippets([t.pk for t in page], query)
        for ticket in page:
            ticket.search_snippet = snippets.get(ticket.pk)  # type: ignore[attr-defined]
        data = TicketSearchResultSerializer(page, many=True).data
        return self.get_paginated_response(data)

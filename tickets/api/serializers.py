"""What the API shows and accepts. Every serializer names its fields; writes are validated
here and carried out by `tickets.services` in the views."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..models import (
    Attachment,
    Channel,
    Contact,
    Group,
    Identity,
    Macro,
    Message,
    Organisation,
    SavedView,
    Tag,
    Ticket,
    TicketEvent,
)
from ..roles import Role, roles_of
from . import selectors

User = get_user_model()


def _person_name(user: Any) -> str:
    return user.get_full_name() or user.get_username()


# --- small references ---------------------------------------------------------------------------


class UserBriefSerializer(serializers.ModelSerializer):
    name = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "name", "email"]
        read_only_fields = fields

    def get_name(self, obj: Any) -> str:
        return _person_name(obj)


class ContactBriefSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="display_name", read_only=True)

    class Meta:
        model = Contact
        fields = ["id", "name"]
        read_only_fields = fields


class OrganisationBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organisation
        fields = ["id", "name"]
        read_only_fields = fields


class GroupSerializer(serializers.ModelSerializer):
    class Meta:
        model = Group
        fields = ["id", "name", "description"]
        read_only_fields = fields


class GroupBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Group
        fields = ["id", "name"]
        read_only_fields = fields


class TagSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tag
        fields = ["id", "name"]
        read_only_fields = fields


class MacroSerializer(serializers.ModelSerializer):
    set_status = serializers.CharField(
        read_only=True, help_text="The status the macro sets (a ticket status), or empty."
    )
    set_priority = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="The priority the macro sets (1-4), or null."
    )
    add_tags = serializers.SerializerMethodField()

    class Meta:
        model = Macro
        fields = ["id", "name", "body", "set_status", "set_priority", "add_tags"]
        read_only_fields = fields

    def get_add_tags(self, obj: Macro) -> list[str]:
        return [name.strip() for name in obj.add_tags.split(",") if name.strip()]


# --- tickets ------------------------------------------------------------------------------------


class TicketSerializer(serializers.ModelSerializer):
    contact = ContactBriefSerializer(read_only=True)
    organisation = OrganisationBriefSerializer(read_only=True, allow_null=True)
    group = GroupBriefSerializer(read_only=True, allow_null=True)
    assignee = UserBriefSerializer(read_only=True, allow_null=True)
    tags: serializers.SlugRelatedField[Tag] = serializers.SlugRelatedField(
        many=True, read_only=True, slug_field="name"
    )

    class Meta:
        model = Ticket
        fields = [
            "number",
            "subject",
            "status",
            "priority",
            "channel",
            "contact",
            "organisation",
            "group",
            "assignee",
            "tags",
            "message_count",
            "created_at",
            "updated_at",
            "first_response_at",
            "solved_at",
            "closed_at",
            "last_customer_message_at",
            "last_agent_message_at",
        ]
        read_only_fields = fields


class TicketCreateSerializer(serializers.Serializer):
    """An agent opens a ticket for a contact, named by id or by email address."""

    contact = serializers.IntegerField(
        required=False, min_value=1, help_text="Id of an existing contact."
    )
    email = serializers.EmailField(
        required=False, help_text="The contact's email; a new contact is made when unknown."
    )
    name = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="Name for a contact made from `email`.",
    )
    subject = serializers.CharField(max_length=300)
    text = serializers.CharField(help_text="The customer's request, as the first message.")
    group = serializers.PrimaryKeyRelatedField(
        queryset=Group.objects.all(), required=False, allow_null=True
    )
    priority = serializers.ChoiceField(
        choices=Ticket.Priority.choices, default=Ticket.Priority.NORMAL
    )
    channel = serializers.ChoiceField(
        choices=Channel.choices,
        default=Channel.API,
        help_text="Where replies go: e.g. `email` sends replies to the contact's address.",
    )

    def validate_contact(self, value: int) -> Contact:
        contact = selectors.visible_contacts(self.context["request"].user).filter(pk=value).first()
        if contact is None:
            raise serializers.ValidationError("No such contact.")
        return contact

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("contact" in attrs) == ("email" in attrs):
            raise serializers.ValidationError("Give either `contact` or `email`.")
        return attrs


class TicketUpdateSerializer(serializers.Serializer):
    """Any of these, in one request; each goes through its own service and audit event."""

    subject = serializers.CharField(required=False, max_length=300)
    status = serializers.ChoiceField(choices=Ticket.Status.choices, required=False)
    priority = serializers.ChoiceField(choices=Ticket.Priority.choices, required=False)
    group = serializers.PrimaryKeyRelatedField(
        queryset=Group.objects.all(), required=False, allow_null=True
    )
    assignee = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True),
        required=False,
        allow_null=True,
        help_text="An agent's id; null unassigns.",
    )
    tags = serializers.ListField(
        child=serializers.CharField(max_length=50),
        required=False,
        max_length=50,
        help_text="The full list of tag names the ticket should have.",
    )


class TicketMergeSerializer(serializers.Serializer):
    into = serializers.IntegerField(min_value=1, help_text="Number of the ticket to merge into.")


# --- messages and events ------------------------------------------------------------------------


class AttachmentSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = Attachment
        fields = ["id", "filename", "content_type", "size", "inline", "content_id", "url"]
        read_only_fields = fields

    def get_url(self, obj: Attachment) -> str:
        return reverse("desk:attachment", kwargs={"attachment_id": obj.pk})


class CallSerializer(serializers.Serializer):
    """A call an agent logged (`POST /tickets/{number}/calls/`)."""

    direction = serializers.ChoiceField(
        choices=[("inbound", "The customer called us"), ("outbound", "We called the customer")]
    )
    duration_seconds = serializers.IntegerField(min_value=0, max_value=24 * 3600)
    notes = serializers.CharField(
        required=False, allow_blank=True, max_length=10_000, trim_whitespace=False, default=""
    )


class MessageSerializer(serializers.ModelSerializer):
    ticket = serializers.IntegerField(source="ticket.number", read_only=True)
    author_user = UserBriefSerializer(read_only=True, allow_null=True)
    author_contact = ContactBriefSerializer(read_only=True, allow_null=True)
    recipients = serializers.ListField(child=serializers.CharField(), read_only=True)
    attachments = AttachmentSerializer(many=True, read_only=True)
    call = serializers.SerializerMethodField(help_text="The call, when the message logs one.")

    @extend_schema_field(CallSerializer(allow_null=True))
    def get_call(self, message: Message) -> dict[str, Any] | None:
        call = (message.metadata or {}).get("call")
        if not isinstance(call, dict):
            return None
        return {
            "direction": call.get("direction", ""),
            "duration_seconds": call.get("duration_seconds", 0),
            "notes": call.get("notes", ""),
        }

    class Meta:
        model = Message
        fields = [
            "id",
            "ticket",
            "kind",
            "channel",
            "author_user",
            "author_contact",
            "subject",
            "text",
            "html",
            "sender",
            "recipients",
            "is_automatic",
            "flag",
            "created_at",
            "attachments",
            "call",
        ]
        read_only_fields = fields


class MessageCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=[("reply", "Public reply"), ("note", "Internal note")],
        help_text="A reply goes to the customer (by the ticket's channel unless `channel` says "
        "otherwise); a note stays inside.",
    )
    text = serializers.CharField(trim_whitespace=False)
    status = serializers.ChoiceField(
        choices=Ticket.Status.choices,
        required=False,
        help_text="Status to set with it (a reply without one leaves the ticket pending).",
    )
    channel = serializers.ChoiceField(
        choices=Channel.choices,
        required=False,
        help_text="Reply by another channel the contact owns (an email ticket answered by SMS, "
        "say); the ticket's own channel when left out. Refused for a channel that cannot "
        "reach the contact. Ignored for notes.",
    )


class TicketEventSerializer(serializers.ModelSerializer):
    """One entry of the ticket's event log (read-only). `payload` is the kind's typed payload
    (`tickets.event_types`); `old`/`new` repeat a change's values as earlier clients read
    them; `status`, `priority`, `group` and `assignee` are the ticket's values after it."""

    actor = UserBriefSerializer(read_only=True, allow_null=True)
    actor_contact = ContactBriefSerializer(read_only=True, allow_null=True)
    payload = serializers.JSONField(read_only=True)
    old = serializers.JSONField(read_only=True, allow_null=True)
    new = serializers.JSONField(read_only=True, allow_null=True)
    group = serializers.IntegerField(source="group_id", read_only=True, allow_null=True)
    assignee = serializers.IntegerField(source="assignee_id", read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(
        source="recorded_at", read_only=True, help_text="Same as recorded_at (older clients)."
    )

    class Meta:
        model = TicketEvent
        fields = [
            "id",
            "kind",
            "actor_kind",
            "actor",
            "actor_contact",
            "payload",
            "old",
            "new",
            "occurred_at",
            "recorded_at",
            "status",
            "priority",
            "group",
            "assignee",
            "dedupe_key",
            "created_at",
        ]
        read_only_fields = fields


# --- contacts -----------------------------------------------------------------------------------


class IdentitySerializer(serializers.ModelSerializer):
    class Meta:
        model = Identity
        fields = ["id", "kind", "value", "verified"]
        read_only_fields = ["id", "verified"]
        # Uniqueness is checked on the normalised value, when the contact is made.
        validators: list[Any] = []


class ContactSerializer(serializers.ModelSerializer):
    organisation = OrganisationBriefSerializer(read_only=True, allow_null=True)
    identities = IdentitySerializer(many=True, read_only=True)

    class Meta:
        model = Contact
        fields = ["id", "name", "organisation", "identities", "notes", "created_at", "updated_at"]
        read_only_fields = fields


class ContactWriteSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    organisation = serializers.PrimaryKeyRelatedField(
        queryset=Organisation.objects.all(), required=False, allow_null=True
    )
    notes = serializers.CharField(required=False, allow_blank=True)


class ContactCreateSerializer(ContactWriteSerializer):
    identities = IdentitySerializer(many=True, allow_empty=False)


class ContactMergeSerializer(serializers.Serializer):
    into = serializers.IntegerField(min_value=1, help_text="Id of the contact to keep.")


# --- the agent and tokens -----------------------------------------------------------------------


class MeSerializer(serializers.ModelSerializer):
    name = serializers.SerializerMethodField()
    roles = serializers.SerializerMethodField()
    groups = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "email", "name", "roles", "groups"]
        read_only_fields = fields

    def get_name(self, obj: Any) -> str:
        return _person_name(obj)

    def get_roles(self, obj: Any) -> list[str]:
        return sorted(str(role) for role in Role if role.value in roles_of(obj))

    @extend_schema_field(GroupBriefSerializer(many=True))
    def get_groups(self, obj: Any) -> list[dict[str, Any]]:
        return [{"id": group.pk, "name": group.name} for group in selectors.groups_of(obj)]


class TokenRequestSerializer(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(
        write_only=True, trim_whitespace=False, style={"input_type": "password"}
    )


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(read_only=True)


class SearchParamsSerializer(serializers.Serializer):
    q = serializers.CharField(
        max_length=500,
        help_text='Words, "phrases", a #number and operators: status:open tag:refund '
        "from:alice@example.com assignee:me group:Billing priority:high channel:email "
        "created>2026-11-01 updated<2026-12-01; -tag:x leaves out.",
    )
    sort = serializers.ChoiceField(
        choices=["relevance", "-updated_at", "-created_at", "-priority"],
        default="relevance",
        help_text="relevance (best match first; newest first without words) or a field.",
    )


class TicketSearchResultSerializer(TicketSerializer):
    snippet = serializers.SerializerMethodField(
        help_text="HTML: a fragment of the best matching message, matches in <mark>, the rest "
        "escaped. Empty when only the subject, the requester or a field matched."
    )
    subject_highlight = serializers.SerializerMethodField(
        help_text="HTML: the subject with matches in <mark> (escaped), or empty."
    )

    class Meta(TicketSerializer.Meta):
        fields = [*TicketSerializer.Meta.fields, "snippet", "subject_highlight"]
        read_only_fields = fields

    def get_snippet(self, ticket: Ticket) -> str:
        found = getattr(ticket, "search_snippet", None)
        return str(found.body) if found is not None else ""

    def get_subject_highlight(self, ticket: Ticket) -> str:
        found = getattr(ticket, "search_snippet", None)
        return str(found.subject) if found is not None else ""


class SavedViewSerializer(serializers.ModelSerializer):
    """A saved view. `group` null: personal; a team's id: shared with that team. `count` is
    live (capped: "999+"), present in lists and on retrieve."""

    group = serializers.PrimaryKeyRelatedField(
        queryset=Group.objects.all(), allow_null=True, required=False
    )
    owner = UserBriefSerializer(read_only=True)
    filters = serializers.DictField(
        required=False,
        help_text="Queue filters: view, status, priority, channel, group, assignee, tag and q "
        '(a search query), e.g. {"status": "open", "q": "refund tag:billing"}.',
    )
    columns = serializers.ListField(
        child=serializers.ChoiceField(choices=[k for k, _ in SavedView.COLUMNS]),
        required=False,
    )
    count = serializers.SerializerMethodField()

    class Meta:
        model = SavedView
        fields = ["id", "name", "owner", "group", "filters", "columns", "sort", "count"]
        read_only_fields = ["id", "owner", "count"]

    def get_count(self, view: SavedView) -> str | None:
        counts = self.context.get("counts") or {}
        return counts.get(view.pk)

"""Forms of the agent desk and the portal: they parse and validate input, nothing more."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _

from .models import BulkJob, Channel, Identity, SavedView, Ticket
from .selectors import DEFAULT_SORT, DEFAULT_VIEW, QUEUE_VIEWS, RELEVANCE, SORTS, QueueQuery
from .types import IncomingAttachment

REPLY_STATUSES = [
    (Ticket.Status.PENDING.value, "Pending"),
    (Ticket.Status.OPEN.value, "Open"),
    (Ticket.Status.SOLVED.value, "Solved"),
]


class QueueFilterForm(forms.Form):
    view = forms.ChoiceField(choices=list(QUEUE_VIEWS.items()), required=False)
    status = forms.ChoiceField(choices=[("", "Any status"), *Ticket.Status.choices], required=False)
    priority = forms.TypedChoiceField(
        choices=[("", "Any priority"), *Ticket.Priority.choices],
        coerce=int,
        empty_value=None,
        required=False,
    )
    channel = forms.ChoiceField(choices=[("", "Any channel"), *Channel.choices], required=False)
    group = forms.IntegerField(required=False, min_value=1)
    assignee = forms.RegexField(regex=r"^(me|none|\d+)$", required=False)
    tag = forms.CharField(required=False, max_length=50)
    q = forms.CharField(required=False, max_length=500)
    sort = forms.ChoiceField(choices=list(SORTS.items()), required=False)

    def to_query(self) -> QueueQuery:
        """The query to run; an invalid value is dropped rather than failing the page."""
        self.is_valid()  # fields with errors are simply left out of cleaned_data
        data: dict[str, Any] = self.cleaned_data
        q = (data.get("q") or "").strip()
        return QueueQuery(
            # a search from the default queue looks at every ticket, not only unsolved ones
            view=data.get("view") or ("all" if q else DEFAULT_VIEW),
            status=data.get("status") or "",
            priority=data.get("priority"),
            channel=data.get("channel") or "",
            group_id=data.get("group"),
            assignee=data.get("assignee") or "",
            tag=(data.get("tag") or "").strip(),
            q=q,
            sort=data.get("sort") or (RELEVANCE if q else DEFAULT_SORT),
        )


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input, each checked against the attachment size limit."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        files = data if isinstance(data, list | tuple) else ([data] if data else [])
        cleaned = [super(MultipleFileField, self).clean(f, initial) for f in files]
        limit = settings.HELPDESK_MAX_ATTACHMENT_BYTES
        too_big = [f.name for f in cleaned if f.size is not None and f.size > limit]
        if too_big:
            raise forms.ValidationError(
                f"{', '.join(str(n) for n in too_big)}: larger than {filesizeformat(limit)}."
            )
        return cleaned


def incoming_attachments(files: list[UploadedFile]) -> tuple[IncomingAttachment, ...]:
    return tuple(
        IncomingAttachment(
            filename=(f.name or "attachment").rsplit("/", 1)[-1],
            content_type=f.content_type or "application/octet-stream",
            payload=f.read(),
        )
        for f in files
    )


class ReplyForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}), max_length=100_000)
    status = forms.ChoiceField(choices=REPLY_STATUSES, required=False, initial="pending")
    channel = forms.ChoiceField(
        choices=(),
        required=False,
        error_messages={
            "invalid_choice": "The customer cannot be reached by %(value)s: "
            "choose one of the channels under “Send by”."
        },
    )
    attachments = MultipleFileField()
    # the newest message id the agent's page showed; absent (an older page, a script) means
    # "do not check for news"
    seen_message = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)

    def __init__(
        self, *args: Any, channels: list[tuple[str, str]] | None = None, **kwargs: Any
    ) -> None:
        """`channels`: what the contact can be reached by (`selectors.reply_channels`); an
        empty `channel` means the first of them, the ticket's own."""
        super().__init__(*args, **kwargs)
        self.channels = channels or []
        cast(forms.ChoiceField, self.fields["channel"]).choices = self.channels

    def clean_channel(self) -> str:
        value = self.cleaned_data.get("channel") or ""
        return value or (self.channels[0][0] if self.channels else "")


class NoteForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}), max_length=100_000)


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=Ticket.Status.choices)


class PriorityForm(forms.Form):
    priority = forms.TypedChoiceField(choices=Ticket.Priority.choices, coerce=int)


class GroupForm(forms.Form):
    group = forms.IntegerField(required=False, min_value=1)


class AssigneeForm(forms.Form):
    assignee = forms.IntegerField(required=False, min_value=1)


class TagsForm(forms.Form):
    tags = forms.CharField(required=False, max_length=1000)

    def names(self) -> list[str]:
        return [t for t in self.cleaned_data["tags"].split(",") if t.strip()]


class SubjectForm(forms.Form):
    subject = forms.CharField(max_length=300)


class MacroForm(forms.Form):
    macro = forms.IntegerField(min_value=1)


class BulkActionForm(forms.Form):
    """A bulk action on the checked tickets, or on all the queue's filters match (`matching`
    is the queue's query string). The action's own fields are checked by the service."""

    action = forms.ChoiceField(choices=BulkJob.Action.choices)
    ticket = forms.TypedMultipleChoiceField(coerce=int, required=False)
    all_matching = forms.BooleanField(required=False)
    matching = forms.CharField(required=False, max_length=2000)
    assignee = forms.CharField(required=False, max_length=20)
    status = forms.CharField(required=False, max_length=16)
    priority = forms.CharField(required=False, max_length=4)
    group = forms.CharField(required=False, max_length=20)
    tags = forms.CharField(required=False, max_length=300)
    macro = forms.CharField(required=False, max_length=20)
    target = forms.CharField(required=False, max_length=30)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # any id is accepted here; the service keeps only the tickets the agent may see
        field = cast(forms.TypedMultipleChoiceField, self.fields["ticket"])
        field.valid_value = lambda value: str(value).isdigit()  # type: ignore[method-assign]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("all_matching") and not data.get("ticket"):
            raise forms.ValidationError("Select at least one ticket.")
        return data


class NewTicketForm(forms.Form):
    """An agent opens a ticket: for a contact found by search (`contact`), or a new one by
    email and/or phone."""

    contact = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    name = forms.CharField(label="Name", required=False, max_length=200)
    email = forms.EmailField(label="Email", required=False)
    phone = forms.CharField(label="Phone", required=False, max_length=40)
    origin = forms.ChoiceField(label="How it came in", choices=())
    channel = forms.ChoiceField(
        label="Send on",
        required=False,
        choices=[("", "—"), *Channel.choices],
        help_text="Only for a message we write first: the channel it leaves by.",
    )
    group = forms.TypedChoiceField(label="Group", coerce=int, choices=(), required=False)
    subject = forms.CharField(label="Subject", required=False, max_length=300)
    text = forms.CharField(
        label="Message",
        max_length=50_000,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text="What the customer asked for (phone, walk-in, letter), or what we write to them.",
    )

    def __init__(self, *args: Any, origins: Any = (), groups: Any = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["origin"]).choices = list(origins)
        cast(forms.ChoiceField, self.fields["group"]).choices = [
            ("", "No group"),
            *((g.pk, g.name) for g in groups),
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("contact") and not data.get("email") and not data.get("phone"):
            raise forms.ValidationError(
                "Choose a contact, or give the new contact's email or phone number."
            )
        return data


class MergeForm(forms.Form):
    target = forms.CharField(max_length=30)

    def clean_target(self) -> int:
        value = self.cleaned_data["target"].strip().lstrip("#")
        if not value.isdigit():
            raise forms.ValidationError("Enter a ticket number.")
        return int(value)


class IdentityAddForm(forms.Form):
    kind = forms.ChoiceField(choices=Identity.Kind.choices)
    value = forms.CharField(max_length=320)


class ContactMergeForm(forms.Form):
    source = forms.IntegerField(min_value=1)


class ContactSearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=500)


class PortalReplyForm(forms.Form):
    text = forms.CharField(
        label="Your reply", widget=forms.Textarea(attrs={"rows": 5}), max_length=100_000
    )
    attachments = MultipleFileField()


class PortalNewTicketForm(forms.Form):
    subject = forms.CharField(max_length=300)
    text = forms.CharField(
        label="How can we help?", widget=forms.Textarea(attrs={"rows": 8}), max_length=100_000
    )
    attachments = MultipleFileField()


class SavedViewForm(forms.Form):
    """Save the queue's current filters (sent along as hidden fields) as a named view."""

    name = forms.CharField(max_length=100)
    share_with = forms.TypedChoiceField(
        coerce=int, empty_value=None, required=False, choices=[("", "Only me")]
    )
    columns = forms.MultipleChoiceField(
        choices=SavedView.COLUMNS, required=False, widget=forms.CheckboxSelectMultiple
    )
    sort = forms.CharField(required=False, max_length=20)

    def __init__(self, *args: Any, groups: Any = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.TypedChoiceField, self.fields["share_with"]).choices = [
            ("", "Only me"),
            *((g.pk, f"Team: {g.name}") for g in groups),
        ]


class NotificationSettingsForm(forms.Form):
    """Per kind of notification: in the bell, and by email."""

    def __init__(self, *args: Any, current: dict[str, tuple[bool, bool]], **kwargs: Any) -> None:
        from .models import NotificationKind

        super().__init__(*args, **kwargs)
        self.kinds = list(NotificationKind)
        for kind in self.kinds:
            in_app, email = current[kind]
            self.fields[f"{kind.value}_in_app"] = forms.BooleanField(
                required=False, initial=in_app, label=_("In the bell")
            )
            self.fields[f"{kind.value}_email"] = forms.BooleanField(
                required=False, initial=email, label=_("By email")
            )

    def rows(self) -> list[tuple[Any, Any, Any]]:
        return [
            (kind.label, self[f"{kind.value}_in_app"], self[f"{kind.value}_email"])
            for kind in self.kinds
        ]

    def choices(self) -> dict[str, tuple[bool, bool]]:
        data = self.cleaned_data
        return {
            kind.value: (bool(data[f"{kind.value}_in_app"]), bool(data[f"{kind.value}_email"]))
            for kind in self.kinds
        }

"""The core domain: who writes to us, about what, and everything that happened since.

Rows here change only through `tickets.services`; the model layer keeps invariants that the
database can enforce (uniques, checks) and small derived properties.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.utils import timezone

TICKET_NUMBER_SEQUENCE = "tickets_ticket_number_seq"


def _new_token() -> str:
    return secrets.token_urlsafe(12)


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    CHAT = "chat", "Live chat"
    TELEGRAM = "telegram", "Telegram"
    WHATSAPP = "whatsapp", "WhatsApp"
    MESSENGER = "messenger", "Messenger"
    SMS = "sms", "SMS"
    PHONE = "phone", "Phone"
    WEB = "web", "Web portal"
    API = "api", "API"


class Organisation(models.Model):
    name = models.CharField(max_length=200, unique=True)
    domains = models.CharField(
        max_length=500, blank=True, help_text="Comma-separated email domains of its people."
    )
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    """A person who writes to us, through however many identities (email, phone, handles)."""

    name = models.CharField(max_length=200, blank=True)
    organisation = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.SET_NULL, related_name="contacts"
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="contact",
        help_text="Portal login, when the customer has one.",
    )
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_from"
    )
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name or f"Contact #{self.pk}"

    @property
    def display_name(self) -> str:
        return self.name or f"Contact #{self.pk}"


class Identity(models.Model):
    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        PHONE = "phone", "Phone"
        CHAT = "chat", "Chat visitor"
        TELEGRAM = "telegram", "Telegram"
        WHATSAPP = "whatsapp", "WhatsApp"
        MESSENGER = "messenger", "Messenger"

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="identities")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    value = models.CharField(max_length=320, help_text="Normalised: lowercase email, E.164 phone.")
    verified = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "identities"
        constraints = [
            models.UniqueConstraint(fields=["kind", "value"], name="identity_unique_kind_value")
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


class Group(models.Model):
    """A team and its queue (Billing, Support, …)."""

    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=300, blank=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="helpdesk_groups", blank=True
    )
    calendar = models.ForeignKey(
        "tickets.Calendar",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="groups",
        help_text="Business hours for this team's targets; empty means the default calendar.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AgentProfile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent_profile"
    )
    display_name = models.CharField(max_length=100, blank=True)
    signature = models.TextField(blank=True)

    def __str__(self) -> str:
        return self.display_name or self.user.get_username()


class Tag(models.Model):
    name = models.SlugField(max_length=50, unique=True, allow_unicode=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Ticket(models.Model):
    class Status(models.TextChoices):
        NEW = "new", "New"
        OPEN = "open", "Open"
        PENDING = "pending", "Pending"
        ON_HOLD = "on_hold", "On hold"
        SOLVED = "solved", "Solved"
        CLOSED = "closed", "Closed"

    class Priority(models.IntegerChoices):
        LOW = 1, "Low"
        NORMAL = 2, "Normal"
        HIGH = 3, "High"
        URGENT = 4, "Urgent"

    ACTIVE_STATUSES = (Status.NEW, Status.OPEN, Status.PENDING, Status.ON_HOLD)

    number = models.BigIntegerField(
        unique=True,
        editable=False,
        db_default=models.Func(
            models.Value(TICKET_NUMBER_SEQUENCE),
            function="nextval",
            output_field=models.BigIntegerField(),
        ),
    )
    subject = models.CharField(max_length=300)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.EMAIL)
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="tickets")
    organisation = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets"
    )
    group = models.ForeignKey(
        Group, null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_tickets",
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="tickets")
    reply_token = models.CharField(max_length=32, unique=True, default=_new_token, editable=False)
    channel_account_id = models.BigIntegerField(
        null=True, blank=True, help_text="The channel account replies leave by."
    )
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_from"
    )
    message_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    first_response_at = models.DateTimeField(null=True, blank=True)
    solved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    last_customer_message_at = models.DateTimeField(null=True, blank=True)
    last_agent_message_at = models.DateTimeField(null=True, blank=True)
    # SLA: written only by `tickets.sla_services` (the engine's results for the policy).
    sla_policy = models.ForeignKey(
        "tickets.SlaPolicy", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    first_reply_due_at = models.DateTimeField(null=True, blank=True)
    next_reply_due_at = models.DateTimeField(null=True, blank=True)
    resolution_due_at = models.DateTimeField(null=True, blank=True)
    sla_due_at = models.DateTimeField(
        null=True, blank=True, help_text="The soonest due of the running targets (overdue too)."
    )
    sla_next_due_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="The soonest due not yet breached: what the sweep looks for.",
    )
    sla_breached = models.BooleanField(default=False)
    status_changed_at = models.DateTimeField(
        default=timezone.now, help_text="When the ticket entered its current status."
    )

    class Meta:
        ordering = ["-updated_at"]
        indexes = [
            models.Index(
                fields=["sla_due_at", "id"],
                condition=models.Q(sla_due_at__isnull=False),
                name="ticket_sla_due",
            ),
            models.Index(
                fields=["sla_next_due_at"],
                condition=models.Q(sla_next_due_at__isnull=False),
                name="ticket_sla_sweep",
            ),
            models.Index(fields=["-updated_at", "-id"], name="ticket_updated_id"),
            models.Index(fields=["status", "-updated_at"], name="ticket_status_updated"),
            models.Index(fields=["group", "status", "-updated_at"], name="ticket_group_status_upd"),
            models.Index(
                fields=["assignee", "status", "-updated_at"], name="ticket_assignee_status_upd"
            ),
            models.Index(fields=["contact", "-created_at"], name="ticket_contact_created"),
            models.Index(fields=["-priority", "-updated_at"], name="ticket_priority_updated"),
            # time automations: "pending for 3 days" is a range on this index
            models.Index(fields=["status", "status_changed_at"], name="ticket_status_since"),
        ]

    def __str__(self) -> str:
        return f"#{self.number} {self.subject}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES


class Message(models.Model):
    class Kind(models.TextChoices):
        CUSTOMER = "customer", "Customer message"
        REPLY = "reply", "Agent reply"
        NOTE = "note", "Internal note"
        SYSTEM = "system", "System"

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    author_contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    author_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="authored_messages",
    )
    channel_account_id = models.BigIntegerField(null=True, blank=True)
    external_id = models.CharField(
        max_length=500, blank=True, help_text="The channel's id: Message-ID, provider message id."
    )
    subject = models.CharField(max_length=300, blank=True)
    text = models.TextField(blank=True)
    html = models.TextField(blank=True, help_text="Sanitised HTML.")
    sender = models.CharField(
        max_length=320, blank=True, help_text="Address or handle it came from."
    )
    recipients = models.JSONField(default=list, blank=True)
    is_automatic = models.BooleanField(default=False, help_text="Auto-reply, bounce, bulk.")
    flag = models.CharField(
        max_length=200,
        blank=True,
        help_text="Why an agent should look twice (e.g. unknown sender).",
    )
    metadata = models.JSONField(default=dict, blank=True)
    # How the last delivery report for this outbound message went (sent, delivered, read,
    # delayed, failed, queued again on retry; "" before any report): kept by
    # `services.delivery_record_event`, so a thread shows it without reading the deliveries.
    delivery_status = models.CharField(max_length=16, blank=True)
    delivery_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["ticket", "created_at"], name="message_ticket_created"),
            models.Index(fields=["external_id"], name="message_external_id"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["channel_account_id", "external_id"],
                condition=~models.Q(external_id="") & models.Q(channel_account_id__isnull=False),
                name="message_unique_external_id_per_account",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on #{self.ticket_id}"

    @property
    def is_public(self) -> bool:
        return self.kind in (self.Kind.CUSTOMER, self.Kind.REPLY)


def attachment_path(instance: Attachment, filename: str) -> str:
    return f"attachments/{instance.sha256[:2]}/{instance.sha256}/{filename}"


class Attachment(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=attachment_path, max_length=400)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=200, default="application/octet-stream")
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    content_id = models.CharField(max_length=255, blank=True, help_text="For inline cid: images.")
    inline = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.filename


class ActorKind(models.TextChoices):
    """As what someone or something acted on a ticket."""

    AGENT = "agent", "Agent"
    CUSTOMER = "customer", "Customer"
    SYSTEM = "system", "System"
    AUTOMATION = "automation", "Automation"
    BOT = "bot", "Bot"
    IMPORT = "import", "Import"


class TicketEvent(models.Model):
    """The complete, typed history of a ticket; append-only. Reports and SLA read this.

    Written only by `tickets.services.event_record`. `occurred_at` is when it happened (a
    message's received or provider time), `recorded_at` when it was written. `payload` is the
    kind's dataclass in `tickets.event_types`, as JSON. `status`, `priority`, `group` and
    `assignee` are the ticket's values right after the event, so reports can slice by them.
    `dedupe_key`, when set, makes the event (and the action it records) happen once."""

    class Kind(models.TextChoices):
        CREATED = "created", "Created"
        MESSAGE = "message", "Customer message"
        REPLY = "reply", "Agent replied"
        BOT_REPLY = "bot_reply", "Bot replied"
        AUTO_MESSAGE = "auto_message", "Automatic message"
        NOTE = "note", "Note added"
        STATUS = "status", "Status changed"
        PRIORITY = "priority", "Priority changed"
        ASSIGNEE = "assignee", "Assignee changed"
        GROUP = "group", "Group changed"
        TAGS = "tags", "Tags changed"
        SUBJECT = "subject", "Subject changed"
        MERGED = "merged", "Merged"
        CONTACT = "contact", "Contact changed"
        DELIVERY = "delivery", "Delivery"
        FOLLOW_UP = "follow_up", "Follow-up"
        CSAT = "csat", "Satisfaction rating"
        SLA_ACHIEVED = "sla_achieved", "SLA target achieved"
        SLA_BREACHED = "sla_breached", "SLA target breached"
        AUTOMATION = "automation", "Automation rule acted"

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    payload = models.JSONField(default=dict)
    occurred_at = models.DateTimeField(default=timezone.now)
    recorded_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=16, choices=Ticket.Status.choices)
    priority = models.PositiveSmallIntegerField(choices=Ticket.Priority.choices)
    group = models.ForeignKey(
        Group, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    dedupe_key = models.CharField(max_length=200, null=True, blank=True, unique=True)

    class Meta:
        ordering = ["occurred_at", "id"]
        indexes = [
            models.Index(fields=["ticket", "occurred_at"], name="event_ticket_occurred"),
            models.Index(fields=["kind", "occurred_at"], name="event_kind_occurred"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} on #{self.ticket_id}"

    @property
    def old(self) -> Any:
        """The changed field's value before (change kinds only); see `legacy_old_new`."""
        from .event_types import legacy_old_new

        return legacy_old_new(self.kind, self.payload)[0]

    @property
    def new(self) -> Any:
        """The changed field's value after, or the whole payload for other kinds."""
        from .event_types import legacy_old_new

        return legacy_old_new(self.kind, self.payload)[1]


class Macro(models.Model):
    """A canned reply with optional field changes, applied in one click."""

    name = models.CharField(max_length=100, unique=True)
    body = models.TextField(blank=True)
    set_status = models.CharField(max_length=16, choices=Ticket.Status.choices, blank=True)
    set_priority = models.PositiveSmallIntegerField(
        choices=Ticket.Priority.choices, null=True, blank=True
    )
    add_tags = models.CharField(max_length=300, blank=True, help_text="Comma-separated.")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Participant(models.Model):
    """Someone besides the requester who takes part in a ticket (CC'd on email, say)."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="participants")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="participations")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["ticket", "contact"], name="participant_unique")
        ]

    def __str__(self) -> str:
        return f"{self.contact_id} on #{self.ticket_id}"


# --- search -------------------------------------------------------------------------------------


class SearchDocument(models.Model):
    """One row per ticket: what full-text search reads, so a query never touches messages.

    Kept apart from the ticket so that writing a ticket or a message costs nothing extra: a
    Celery task rebuilds the row shortly after the change (`tickets.search.index`). `document`
    holds everything a customer could also read (subject, number, tags, contact, organisation,
    public messages and their attachments' names); `notes` holds internal notes only, so a
    customer-facing search can leave it out. `people` is lowercase text of the contact's name,
    identities and organisation for trigram (substring) matching of names, emails and phones.
    """

    ticket = models.OneToOneField(
        Ticket, primary_key=True, on_delete=models.CASCADE, related_name="search_document"
    )
    document = SearchVectorField()
    notes = SearchVectorField()
    people = models.TextField(blank=True)
    refreshed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            GinIndex(fields=["document"], name="search_document_gin", fastupdate=False),
            GinIndex(fields=["notes"], name="search_notes_gin", fastupdate=False),
            # and `search_people_trgm` (gin_trgm_ops on people), made by migration 0004 where
            # the server has pg_trgm: the embedded pgserver build does not ship it
        ]

    def __str__(self) -> str:
        return f"search document of ticket {self.ticket_id}"


class SavedView(models.Model):
    """A queue an agent named: filters (a search query among them), columns and sort.

    Personal when `group` is empty (only the owner sees it), otherwise shared with that team."""

    COLUMNS: tuple[tuple[str, str], ...] = (
        ("number", "#"),
        ("subject", "Subject"),
        ("requester", "Requester"),
        ("status", "Status"),
        ("priority", "Priority"),
        ("channel", "Channel"),
        ("group", "Group"),
        ("assignee", "Assignee"),
        ("created", "Created"),
        ("updated", "Updated"),
    )
    DEFAULT_COLUMNS: tuple[str, ...] = (
        "number",
        "subject",
        "requester",
        "status",
        "priority",
        "channel",
        "group",
        "assignee",
        "updated",
    )

    name = models.CharField(max_length=100)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views"
    )
    group = models.ForeignKey(
        Group,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="saved_views",
        help_text="Shared with this team; empty for a personal view.",
    )
    filters = models.JSONField(
        default=dict,
        blank=True,
        help_text='Queue filters: {"view", "status", "priority", "channel", "group", '
        '"assignee", "tag", "q"}.',
    )
    columns = models.JSONField(default=list, blank=True)
    sort = models.CharField(max_length=20, blank=True)
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="saved_view_unique_owner_name")
        ]
        indexes = [models.Index(fields=["group"], name="saved_view_group")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_shared(self) -> bool:
        return self.group_id is not None


class TicketImport(models.Model):
    """Where an imported ticket came from: its id in the help desk it was moved from. Unique,
    so importing the same history twice finds the ticket made the first time."""

    external_id = models.CharField(max_length=200, unique=True)
    ticket = models.OneToOneField(Ticket, on_delete=models.CASCADE, related_name="import_record")
    imported_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-imported_at", "-id"]

    def __str__(self) -> str:
        return f"{self.external_id} → #{self.ticket_id}"


class BulkJob(models.Model):
    """One bulk action an agent ran on a selection of tickets.

    `ticket_ids` is the selection as it was checked against the agent's access when the job
    was started; `cursor` is how far the worker got. Each batch commits its ticket changes
    together with the new cursor and counts, so a retried job resumes where it stopped and
    never applies a change twice."""

    class Action(models.TextChoices):
        ASSIGN = "assign", "Assign"
        STATUS = "status", "Set status"
        PRIORITY = "priority", "Set priority"
        GROUP = "group", "Move to group"
        TAGS_ADD = "tags_add", "Add tags"
        TAGS_REMOVE = "tags_remove", "Remove tags"
        MERGE = "merge", "Merge into one ticket"
        MACRO = "macro", "Apply macro"

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bulk_jobs"
    )
    action = models.CharField(max_length=16, choices=Action.choices)
    params = models.JSONField(default=dict, blank=True)
    ticket_ids = models.JSONField(default=list, blank=True)
    total = models.PositiveIntegerField(default=0)
    cursor = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    errors = models.JSONField(
        default=list, blank=True, help_text='Per ticket: [{"ticket": id, "number": n, "error": …}].'
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["actor", "-created_at"], name="bulk_job_actor_created")]

    def __str__(self) -> str:
        return f"{self.get_action_display()} on {self.total} tickets"

    @property
    def processed(self) -> int:
        return self.done + self.failed

    @property
    def percent(self) -> int:
        return 100 if not self.total else int(100 * self.processed / self.total)

    @property
    def is_finished(self) -> bool:
        return self.state == self.State.FINISHED


# Calendars and SLA live in their own modules; importing them here registers them.
# Automation rules live in their own package; importing them here registers them with this app.
from .automation.models import AutomationRule, TimeRun, TriggerRun, WebhookCall  # noqa: E402, F401
from .calendar_models import Calendar, CalendarHoliday  # noqa: E402, F401

# Notifications and followers likewise.
from .notification_models import (  # noqa: E402, F401
    Notification,
    NotificationKind,
    NotificationSetting,
    TicketFollower,
)
from .sla_models import SlaMilestone, SlaPolicy, SlaTarget  # noqa: E402, F401

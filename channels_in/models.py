"""The edges' own rows: accounts, every raw inbound message, every outbound delivery."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone


class ChannelKind(models.TextChoices):
    EMAIL = "email", "Email"
    CHAT = "chat", "Live chat"
    TELEGRAM = "telegram", "Telegram"
    WHATSAPP = "whatsapp", "WhatsApp"
    MESSENGER = "messenger", "Messenger"
    SMS = "sms", "SMS"
    PHONE = "phone", "Phone"


class ChannelAccount(models.Model):
    """One mailbox, bot, phone number or chat widget. `config` is read through the typed
    loader of its channel (`channels_in.config.load_config`), never by free-form lookups.
    Secrets live in the environment: config names the variable (e.g. `password_env`)."""

    kind = models.CharField(max_length=16, choices=ChannelKind.choices)
    name = models.SlugField(max_length=64, unique=True)
    address = models.CharField(
        max_length=320, blank=True, help_text="Email address, phone number or bot handle."
    )
    group = models.ForeignKey(
        "tickets.Group",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="New tickets from this account go to this group.",
    )
    config = models.JSONField(default=dict, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["kind", "name"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.name}"


class InboundMessage(models.Model):
    """Every message as it arrived, stored before anything else looks at it."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored (recorded reason)"
        FAILED = "failed", "Failed"

    account = models.ForeignKey(ChannelAccount, on_delete=models.PROTECT, related_name="inbound")
    external_id = models.CharField(max_length=500)
    raw = models.BinaryField()
    raw_sha256 = models.CharField(max_length=64)
    content_type = models.CharField(max_length=100, default="message/rfc822")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    reason = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    queued_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When a processing task was last queued for it (by the store or the sweeper).",
    )
    claimed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When a worker last started processing it. Received and claimed after it "
        "was last queued: an attempt is running, or died.",
    )
    ticket_id = models.BigIntegerField(null=True, blank=True)
    message_id = models.BigIntegerField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "external_id"], name="inbound_unique_account_external_id"
            )
        ]
        indexes = [models.Index(fields=["status", "received_at"], name="inbound_status_received")]

    def __str__(self) -> str:
        return f"{self.account_id}:{self.external_id[:60]} ({self.status})"

    @property
    def ticket_number(self) -> Any:
        from tickets.models import Ticket

        if self.ticket_id is None:
            return None
        return Ticket.objects.filter(pk=self.ticket_id).values_list("number", flat=True).first()


class OutboundDelivery(models.Model):
    """One message leaving by one channel; the idempotency key makes retries safe."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending (claimed by a worker)"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        READ = "read", "Read"
        FAILED = "failed", "Failed"

    message = models.ForeignKey(
        "tickets.Message", on_delete=models.CASCADE, related_name="deliveries"
    )
    account = models.ForeignKey(
        ChannelAccount, null=True, blank=True, on_delete=models.SET_NULL, related_name="outbound"
    )
    channel = models.CharField(max_length=16, choices=ChannelKind.choices)
    recipient = models.CharField(max_length=320)
    cc = models.JSONField(default=list, blank=True)
    idempotency_key = models.CharField(max_length=100, unique=True)
    provider_id = models.CharField(max_length=500, blank=True, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    parts = models.JSONField(
        default=list,
        blank=True,
        help_text="A reply sent as several provider messages (text, then each file): what "
        "each part got from the provider, so a retry sends only what is missing.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(
        null=True, blank=True, help_text="When a worker last claimed it to send."
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "outbound deliveries"
        indexes = [models.Index(fields=["status", "updated_at"], name="delivery_status_updated")]

    def __str__(self) -> str:
        return f"{self.channel} to {self.recipient} ({self.status})"


class MailboxState(models.Model):
    """Where an IMAP poll of one folder stands: the server's UIDVALIDITY and the last UID
    whose message is stored. A message that keeps failing to download is counted here so it
    is recorded and skipped instead of blocking the mailbox."""

    account = models.ForeignKey(
        ChannelAccount, on_delete=models.CASCADE, related_name="mailbox_states"
    )
    folder = models.CharField(max_length=200, default="INBOX")
    uidvalidity = models.BigIntegerField(null=True, blank=True)
    last_uid = models.BigIntegerField(default=0)
    failing_uid = models.BigIntegerField(null=True, blank=True)
    failing_count = models.PositiveIntegerField(default=0)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    fetched_total = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "folder"], name="mailbox_state_unique")
        ]

    def __str__(self) -> str:
        return f"{self.account_id}:{self.folder} uid {self.last_uid}/{self.uidvalidity}"


from django.conf import settings  # noqa: E402 - appended with the chat models below


class ChatConversation(models.Model):
    """One live chat between a website visitor and the desk.

    The transcript is the ticket's messages; this row holds what only a live conversation has:
    which visitor (by the random id in their signed token), who is serving it, its state, and
    the sequence counter that numbers its lines so a reconnecting widget replays exactly what
    it missed."""

    class Status(models.TextChoices):
        NEW = "new", "Not started"
        WAITING = "waiting", "Waiting for an agent"
        ACTIVE = "active", "With an agent"
        OFFLINE = "offline", "Left a message (email follow-up)"
        ENDED = "ended", "Ended"

    OPEN_STATUSES = (Status.NEW, Status.WAITING, Status.ACTIVE, Status.OFFLINE)

    account = models.ForeignKey(ChannelAccount, on_delete=models.PROTECT, related_name="chats")
    visitor_id = models.CharField(max_length=64, db_index=True)
    visitor_name = models.CharField(max_length=200, blank=True)
    visitor_email = models.CharField(max_length=320, blank=True)
    contact = models.ForeignKey(
        "tickets.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ticket = models.ForeignKey(
        "tickets.Ticket", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    last_seq = models.PositiveIntegerField(default=0)
    visitor_seen_seq = models.PositiveIntegerField(default=0)
    page_url = models.CharField(max_length=500, blank=True)
    email_note = models.CharField(
        max_length=300, blank=True, help_text="Why the email given was not linked, if it was not."
    )
    created_at = models.DateTimeField(default=timezone.now)
    accepted_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-last_activity_at"]
        indexes = [
            models.Index(fields=["account", "visitor_id", "-id"], name="chat_visitor_latest"),
            models.Index(fields=["status", "-last_activity_at"], name="chat_status_activity"),
        ]

    def __str__(self) -> str:
        return f"chat {self.pk} ({self.status})"


class ChatLine(models.Model):
    """A numbered line of a conversation: a ticket message shown in the chat, or a system
    notice (an agent joined, the chat ended). Unique (conversation, seq): no gap, no double."""

    class Kind(models.TextChoices):
        VISITOR = "visitor", "Visitor"
        AGENT = "agent", "Agent"
        SYSTEM = "system", "System"

    conversation = models.ForeignKey(
        ChatConversation, on_delete=models.CASCADE, related_name="lines"
    )
    seq = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    message = models.OneToOneField(
        "tickets.Message", null=True, blank=True, on_delete=models.CASCADE, related_name="chat_line"
    )
    text = models.TextField(blank=True, help_text="System notices only; messages keep theirs.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["conversation", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "seq"], name="chatline_unique_seq")
        ]

    def __str__(self) -> str:
        return f"{self.conversation_id}#{self.seq} {self.kind}"

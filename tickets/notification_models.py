"""Working together: notifications in the bell (and by email), each agent's settings for
them, and the agents who follow a ticket."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class NotificationKind(models.TextChoices):
    ASSIGNED = "assigned", _("A ticket is assigned to me")
    GROUP_ASSIGNED = "group_assigned", _("A ticket lands in my group")
    CUSTOMER_REPLY = "customer_reply", _("A customer replies on my ticket")
    MENTION = "mention", _("Someone mentions me in a note")
    SLA_WARNING = "sla_warning", _("An SLA target is about to be missed")
    DELIVERY_FAILED = "delivery_failed", _("A message on my ticket could not be delivered")


# (in the bell, by email) for an agent who never changed their settings
NOTIFICATION_DEFAULTS: dict[str, tuple[bool, bool]] = {
    NotificationKind.ASSIGNED: (True, True),
    NotificationKind.GROUP_ASSIGNED: (True, False),
    NotificationKind.CUSTOMER_REPLY: (True, False),
    NotificationKind.MENTION: (True, True),
    NotificationKind.SLA_WARNING: (True, True),
    NotificationKind.DELIVERY_FAILED: (True, True),
}


class Notification(models.Model):
    """One thing one agent should know about. `dedupe_key` makes each (cause, recipient) a
    single row however often the cause is processed."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=32, choices=NotificationKind.choices)
    ticket = models.ForeignKey(
        "tickets.Ticket", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    title = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    dedupe_key = models.CharField(max_length=200)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "dedupe_key"], name="notification_once_per_recipient"
            )
        ]
        indexes = [
            models.Index(fields=["recipient", "-created_at"], name="notification_inbox"),
            models.Index(
                fields=["recipient"],
                condition=models.Q(read_at__isnull=True),
                name="notification_unread",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.recipient}: {self.title}"


class NotificationSetting(models.Model):
    """An agent's choice for one kind; a kind without a row uses NOTIFICATION_DEFAULTS."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_settings"
    )
    kind = models.CharField(max_length=32, choices=NotificationKind.choices)
    in_app = models.BooleanField(default=True)
    email = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="notification_setting_once")
        ]

    def __str__(self) -> str:
        return f"{self.user}: {self.kind}"


class TicketFollower(models.Model):
    """An agent who asked to hear about a ticket they do not own."""

    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="followers")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="followed_tickets"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["ticket", "user"], name="ticket_follower_once")
        ]

    def __str__(self) -> str:
        return f"{self.user} follows {self.ticket_id}"

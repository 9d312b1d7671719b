"""Automation rules, and the runs and webhook calls they cause.

A rule's conditions and actions are JSON lists validated by `tickets.automation.rules`
(`parse_conditions`, `parse_actions`) before they are saved; the engine reads them back
through the same parsers, so a row never holds a shape the engine cannot run."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AutomationRule(models.Model):
    class Kind(models.TextChoices):
        TRIGGER = "trigger", _("Trigger (on ticket events)")
        TIME = "time", _("Time automation (on a schedule)")

    class Match(models.TextChoices):
        ALL = "all", _("All conditions")
        ANY = "any", _("Any condition")

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.TRIGGER)
    position = models.PositiveIntegerField(default=0, help_text=_("Rules run in this order."))
    active = models.BooleanField(default=True)
    events = models.JSONField(
        default=list, blank=True, help_text=_("Trigger events the rule runs on (triggers only).")
    )
    match = models.CharField(max_length=8, choices=Match.choices, default=Match.ALL)
    conditions = models.JSONField(default=list, blank=True)
    actions = models.JSONField(default=list)
    stop = models.BooleanField(
        default=False, help_text=_("Stop here: later rules do not run after this one fired.")
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["kind", "position", "id"]
        indexes = [
            models.Index(fields=["kind", "active", "position"], name="automation_kind_active"),
        ]

    def __str__(self) -> str:
        return self.name


class TriggerRun(models.Model):
    """One evaluation of the triggers for one ticket event: written in the transaction that
    did the actions, so a second run of the same task finds it and does nothing."""

    event = models.OneToOneField(
        "tickets.TicketEvent", on_delete=models.CASCADE, related_name="trigger_run"
    )
    chain = models.JSONField(default=list, help_text=_("Rule ids fired earlier in this chain."))
    depth = models.PositiveSmallIntegerField(default=0)
    fired = models.JSONField(default=list, help_text=_("Rule ids that fired on this event."))
    refused = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"triggers on event {self.event_id}"


class WebhookCall(models.Model):
    """A signed POST a rule asked for; the body is fixed when the rule fires, so every retry
    sends (and signs) the same bytes."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    rule = models.ForeignKey(AutomationRule, null=True, on_delete=models.SET_NULL, related_name="+")
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="+")
    dedupe_key = models.CharField(max_length=200, unique=True)
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=200)
    body = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    response_status = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"webhook {self.url} ({self.status})"


class TimeRun(models.Model):
    """A time automation acted on a ticket in one state (the status it entered at
    `state_since`): it acts again only after the ticket changes status."""

    rule = models.ForeignKey(AutomationRule, on_delete=models.CASCADE, related_name="+")
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="+")
    state_since = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "ticket", "state_since"], name="time_run_once_per_state"
            )
        ]

    def __str__(self) -> str:
        return f"rule {self.rule_id} on ticket {self.ticket_id}"

"""SLA policies and what they gave each ticket.

A policy holds what an admin typed (validated here, so the Django admin, the desk form and the
API refuse the same bad input with the same words); `tickets.sla_services` turns it into the
engine's `SlaPolicySpec` and writes the results: the due columns on `Ticket`, one `SlaTarget`
row per target (and next-reply/update cycle) for reports, and one `SlaMilestone` per target
achieved or breached, unique, so a breach is recorded exactly once however many sweeps run.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .sla import (
    DEFAULT_PAUSE_ON,
    DEFAULT_PAUSE_TARGETS,
    PRIORITIES,
    Metric,
    SlaError,
    SlaPolicySpec,
    parse_pause_on,
    parse_pause_targets,
    parse_targets,
)

CONDITION_FIELDS: tuple[str, ...] = ("priority", "group", "channel", "organisation", "tags")


def parse_conditions(data: object) -> dict[str, list[str]]:
    """`{"priority": ["urgent"], "group": ["Billing"], ...}`: each a list of names; a ticket
    matches when, for every field given, its value is one of those listed (for tags: it has
    one of them). Groups and organisations are matched by name, so a policy may name a team
    before it exists."""
    from .models import Channel

    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SlaError('Conditions must be an object such as {"priority": ["urgent"]}.')
    cleaned: dict[str, list[str]] = {}
    for key, values in data.items():
        if key not in CONDITION_FIELDS:
            raise SlaError(f"Unknown condition {key!r}: use {', '.join(CONDITION_FIELDS)}.")
        if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
            raise SlaError(f"Condition {key}: give a list of names.")
        if key == "priority":
            for value in values:
                if value not in PRIORITIES:
                    raise SlaError(f"Condition priority: unknown priority {value!r}.")
        if key == "channel":
            for value in values:
                if value not in Channel.values:
                    raise SlaError(f"Condition channel: unknown channel {value!r}.")
        if values:
            cleaned[key] = list(dict.fromkeys(values))
    return cleaned


def _check(parser: Any, value: object) -> None:
    try:
        parser(value)
    except SlaError as exc:
        raise ValidationError(str(exc)) from exc


def validate_conditions(value: object) -> None:
    _check(parse_conditions, value)


def validate_targets(value: object) -> None:
    _check(parse_targets, value)


def validate_pause_on(value: object) -> None:
    _check(parse_pause_on, value)


def validate_pause_targets(value: object) -> None:
    _check(parse_pause_targets, value)


def _default_pause_on() -> list[str]:
    return list(DEFAULT_PAUSE_ON)


def _default_pause_targets() -> list[str]:
    return [m.value for m in DEFAULT_PAUSE_TARGETS]


class SlaPolicy(models.Model):
    """Ordered by `position`: the first active policy whose conditions match a ticket is its
    policy. `targets` is `{"urgent": {"first_reply": 15, ...}, ...}` in minutes of the
    calendar's business time (no calendar: plain calendar time)."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    position = models.PositiveIntegerField(_("position"), default=0)
    active = models.BooleanField(_("active"), default=True)
    conditions = models.JSONField(
        _("conditions"), default=dict, blank=True, validators=[validate_conditions]
    )
    calendar = models.ForeignKey(
        "tickets.Calendar",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sla_policies",
        verbose_name=_("calendar"),
        help_text=_("Business hours the targets count in; empty means calendar time (24/7)."),
    )
    targets = models.JSONField(_("targets"), default=dict, validators=[validate_targets])
    pause_on = models.JSONField(
        _("pause on"), default=_default_pause_on, blank=True, validators=[validate_pause_on]
    )
    pause_targets = models.JSONField(
        _("targets paused"),
        default=_default_pause_targets,
        blank=True,
        validators=[validate_pause_targets],
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("SLA policy")
        verbose_name_plural = _("SLA policies")

    def __str__(self) -> str:
        return self.name

    def spec(self) -> SlaPolicySpec:
        return SlaPolicySpec(
            targets=parse_targets(self.targets),
            pause_on=parse_pause_on(self.pause_on),
            pause_targets=parse_pause_targets(self.pause_targets),
        )


class SlaTarget(models.Model):
    """One target of a ticket as the engine last computed it (a row per next-reply cycle)."""

    ticket = models.ForeignKey(
        "tickets.Ticket", on_delete=models.CASCADE, related_name="sla_targets"
    )
    policy = models.ForeignKey(SlaPolicy, null=True, on_delete=models.SET_NULL, related_name="+")
    metric = models.CharField(max_length=20, choices=[(m.value, m.value) for m in Metric])
    cycle = models.PositiveIntegerField(default=0)
    due_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)
    paused = models.BooleanField(default=False)
    running = models.BooleanField(default=False)

    class Meta:
        ordering = ["ticket", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["ticket", "metric", "cycle"], name="sla_target_unique_cycle"
            )
        ]
        indexes = [models.Index(fields=["metric", "due_at"], name="sla_target_metric_due")]

    def __str__(self) -> str:
        return f"{self.metric} #{self.cycle} on {self.ticket_id}"

    @property
    def breached(self) -> bool:
        return self.breached_at is not None


class SlaMilestone(models.Model):
    """A target achieved or breached, once: the unique key is what makes two overlapping
    sweeps (or a retried task) record a breach a single time."""

    class Kind(models.TextChoices):
        ACHIEVED = "achieved", _("Achieved")
        BREACHED = "breached", _("Breached")

    ticket = models.ForeignKey(
        "tickets.Ticket", on_delete=models.CASCADE, related_name="sla_milestones"
    )
    metric = models.CharField(max_length=20)
    cycle = models.PositiveIntegerField(default=0)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    at = models.DateTimeField(help_text="When it happened: the reply, or the due instant.")
    due_at = models.DateTimeField(null=True, blank=True)
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["ticket", "metric", "cycle", "kind"], name="sla_milestone_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.metric} {self.kind} on {self.ticket_id}"

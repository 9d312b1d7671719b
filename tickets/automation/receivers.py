"""Queue the triggers for an event once it is committed (people's and channels' events; the
engine hands on the events automation itself caused, with their chain)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from ..events import event_committed
from .models import AutomationRule


@receiver(event_committed)
def queue_triggers(sender: Any, event_id: int, kind: str, **kwargs: Any) -> None:
    from .engine import SOURCE_KINDS
    from .tasks import run_triggers

    if kind not in SOURCE_KINDS:
        return
    if not AutomationRule.objects.filter(kind=AutomationRule.Kind.TRIGGER, active=True).exists():
        return
    run_triggers.delay(event_id, [], 0)

"""The TicketEvent kinds the SLA writes, and their payload.

`sla_achieved` when a target is met, `sla_breached` when one is missed, both typed in
`tickets.event_types` (`SlaMilestone`: metric, cycle, due_at). The event's `occurred_at` is
when it happened (the reply or solve instant; for a breach the due instant itself), not when
a worker noticed it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .models import TicketEvent

ACHIEVED = TicketEvent.Kind.SLA_ACHIEVED
BREACHED = TicketEvent.Kind.SLA_BREACHED
KINDS = (ACHIEVED, BREACHED)


def payload(*, metric: str, cycle: int, due_at: datetime | None) -> dict[str, object]:
    return {
        "metric": metric,
        "cycle": cycle,
        "due_at": due_at.isoformat() if due_at is not None else None,
    }


METRIC_LABELS: dict[str, str] = {
    "first_reply": "First reply",
    "next_reply": "Next reply",
    "periodic_update": "Periodic update",
    "resolution": "Resolution",
}


def summary(kind: str, data: dict[str, Any]) -> str:
    """One line for the ticket's activity list."""
    label = METRIC_LABELS.get(str(data.get("metric")), str(data.get("metric")))
    return f"SLA {label.lower()} {'achieved' if kind == ACHIEVED else 'breached'}"

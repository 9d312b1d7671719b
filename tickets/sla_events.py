"""The TicketEvent kinds the SLA writes, and their payload.

Plain strings for now (TicketEvent.Kind does not list them yet): `sla_achieved` when a target
is met, `sla_breached` when one is missed. `new` holds {"metric", "cycle", "at", "due_at"}:
`at` is when it happened (the reply or solve instant; for a breach the due instant itself),
and the row's `created_at` is set to that same instant, not to when a worker noticed it.
"""

from __future__ import annotations

from datetime import datetime

ACHIEVED = "sla_achieved"
BREACHED = "sla_breached"
KINDS = (ACHIEVED, BREACHED)


def payload(*, metric: str, cycle: int, at: datetime, due_at: datetime | None) -> dict[str, object]:
    return {
        "metric": metric,
        "cycle": cycle,
        "at": at.isoformat(),
        "due_at": due_at.isoformat() if due_at is not None else None,
    }


METRIC_LABELS: dict[str, str] = {
    "first_reply": "First reply",
    "next_reply": "Next reply",
    "periodic_update": "Periodic update",
    "resolution": "Resolution",
}


def summary(kind: str, new: dict[str, object]) -> str:
    """One line for the ticket's activity list."""
    label = METRIC_LABELS.get(str(new.get("metric")), str(new.get("metric")))
    return f"SLA {label.lower()} {'achieved' if kind == ACHIEVED else 'breached'}"

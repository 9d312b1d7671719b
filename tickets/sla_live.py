"""The live path: after a ticket change commits, its SLA is replayed and stored.

The replay runs right here, after commit, in its own short transaction, so the queue and the
ticket page show the new due times on the next read. When it cannot (the database hiccups),
the same work goes to the `sla` Celery queue, which retries; the work is idempotent.
"""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import receiver

from .events import ticket_changed

log = logging.getLogger(__name__)

# Changes that cannot move a target: skip the replay.
IRRELEVANT_KINDS = frozenset({"subject", "delivery", "call"})


@receiver(ticket_changed)
def recompute_sla(sender: Any, ticket_id: int, kind: str, **kwargs: Any) -> None:
    if kind in IRRELEVANT_KINDS:
        return
    from .sla_services import ticket_sla_recompute
    from .tasks import sla_recompute_ticket

    try:
        ticket_sla_recompute(ticket_id=ticket_id)
    except Exception:  # noqa: BLE001 - a failed replay must not fail the change; a worker retries
        log.warning("SLA of ticket %s not recomputed now; queued", ticket_id, exc_info=True)
        sla_recompute_ticket.delay(ticket_id)

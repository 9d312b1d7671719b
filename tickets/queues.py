"""Names of the Celery queues: every task is routed to one of these."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Queue(StrEnum):
    INGEST = "ingest"
    DELIVER = "deliver"
    SLA = "sla"
    REPORTS = "reports"
    SEARCH = "search"
    BULK = "bulk"


ALL_QUEUES = ",".join(q.value for q in Queue)


def route_task(
    name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **extra: Any
) -> dict[str, str] | None:
    """Celery router: a task names its queue with `@shared_task(route_to=Queue.X)`.

    (Celery 5.7 deprecates the `queue` task attribute in favour of routes; this keeps the
    queue next to the task while routing the supported way.)"""
    queue = getattr(task, "route_to", None)
    return {"queue": str(queue)} if queue else None

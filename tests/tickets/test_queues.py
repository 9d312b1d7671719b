"""Every task lands on its named queue, so workers can be scaled per workload."""

from __future__ import annotations

import pytest

from helpdesk.celery import app
from tickets.queues import Queue


@pytest.mark.parametrize(
    ("task_name", "queue"),
    [
        ("channels_in.tasks.process_inbound", Queue.INGEST),
        ("channels_in.tasks.deliver_outbound", Queue.DELIVER),
        ("channels_in.email.tasks.poll_mailboxes", Queue.INGEST),
        ("tickets.tasks.sla_recompute_ticket", Queue.SLA),
        ("tickets.tasks.sla_recompute_open", Queue.SLA),
        ("tickets.tasks.sla_sweep", Queue.SLA),
    ],
)
def test_it_routes_each_task_to_its_queue(task_name: str, queue: Queue) -> None:
    app.loader.import_default_modules()
    task = app.tasks[task_name]
    route = app.amqp.router.route({}, task_name, (), {}, task)
    assert route["queue"].name == queue.value

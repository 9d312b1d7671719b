"""Bulk actions: one change applied to many tickets, through the same services as one ticket.

`bulk_job_start` checks the selection against the agent's access and stores it as a `BulkJob`;
`bulk_job_run_batch` applies the change to the next batch. A small job runs inline, in the
request; a larger one in the `bulk` Celery queue (`tickets.tasks.run_bulk_job`), batch by
batch, so the agent watches the counts grow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from ..access import agent_tickets
from ..models import BulkJob, Group, Macro, Ticket
from ..roles import is_agent
from .common import ServiceError
from .lifecycle import (
    _clean_tags,
    ticket_assign,
    ticket_set_group,
    ticket_set_priority,
    ticket_set_status,
    ticket_set_tags,
)
from .macros import macro_apply
from .merge import ticket_merge

# Up to this many tickets the job runs in the request; more go to the worker.
BULK_INLINE_MAX = 20
BULK_BATCH_SIZE = 50
# "Select all matching" takes at most this many tickets in one job.
BULK_MAX_TICKETS = 10_000

Apply = Callable[[Ticket, BulkJob], Any]


def _params(action: str, raw: dict[str, Any], actor: Any) -> dict[str, Any]:
    """The action's parameters, checked once for the whole job (a bad one fails it all)."""
    A = BulkJob.Action
    if action == A.ASSIGN:
        value = str(raw.get("assignee") or "")
        if not value:
            return {"assignee": None}
        if not value.isdigit():
            raise ServiceError("Choose an agent to assign to.")
        agent = get_user_model().objects.filter(pk=int(value), is_active=True).first()
        if agent is None or not is_agent(agent):
            raise ServiceError("Tickets can only be assigned to agents.")
        return {"assignee": agent.pk}
    if action == A.STATUS:
        if raw.get("status") not in Ticket.Status.values:
            raise ServiceError("Choose a status.")
        return {"status": raw["status"]}
    if action == A.PRIORITY:
        value = str(raw.get("priority") or "")
        if not value.isdigit() or int(value) not in Ticket.Priority.values:
            raise ServiceError("Choose a priority.")
        return {"priority": int(value)}
    if action == A.GROUP:
        value = str(raw.get("group") or "")
        if not value:
            return {"group": None}
        group = Group.objects.filter(pk=int(value)).first() if value.isdigit() else None
        if group is None:
            raise ServiceError("That group does not exist.")
        return {"group": group.pk}
    if action in (A.TAGS_ADD, A.TAGS_REMOVE):
        tags = _clean_tags(str(raw.get("tags") or "").split(","))
        if not tags:
            raise ServiceError("Name at least one tag.")
        return {"tags": tags}
    if action == A.MACRO:
        value = str(raw.get("macro") or "")
        macro = (
            Macro.objects.filter(pk=int(value), active=True).first() if value.isdigit() else None
        )
        if macro is None:
            raise ServiceError("Choose a macro to apply.")
        return {"macro": macro.pk}
    if action == A.MERGE:
        value = str(raw.get("target") or "").lstrip("#")
        target = agent_tickets(actor).filter(number=int(value)).first() if value.isdigit() else None
        if target is None:
            raise ServiceError("Choose a ticket you can see to merge into.")
        return {"target": target.pk, "target_number": target.number}
    raise ServiceError(f"Unknown bulk action {action!r}.")


@transaction.atomic
def bulk_job_start(
    *, actor: Any, action: str, params: dict[str, Any], ticket_ids: Iterable[int]
) -> BulkJob:
    """Store the job for the tickets of `ticket_ids` the agent may work on (others, forged or
    no longer visible, are left out); run it now when it is small, else queue it."""
    if not is_agent(actor):
        raise ServiceError("Only agents run bulk actions.")
    checked = _params(action, params, actor)
    wanted = list(dict.fromkeys(int(i) for i in ticket_ids))[:BULK_MAX_TICKETS]
    if action == BulkJob.Action.MERGE:
        wanted = [i for i in wanted if i != checked["target"]]
    visible = set(agent_tickets(actor).filter(pk__in=wanted).values_list("pk", flat=True))
    ids = [i for i in wanted if i in visible]
    if not ids:
        raise ServiceError("Select at least one ticket you can work on.")
    job = BulkJob.objects.create(
        actor=actor, action=action, params=checked, ticket_ids=ids, total=len(ids)
    )
    if job.total <= BULK_INLINE_MAX:
        while not job.is_finished:
            job = bulk_job_run_batch(job_id=job.pk)
    else:
        from ..tasks import run_bulk_job  # the task module imports the services

        transaction.on_commit(lambda: run_bulk_job.delay(job.pk))
    return job


@transaction.atomic
def bulk_job_run_batch(*, job_id: int, size: int = BULK_BATCH_SIZE) -> BulkJob:
    """Apply the job to its next `size` tickets and move the cursor, in one transaction (the
    job row is locked: two workers never run the same batch). A ticket the rules refuse, or
    that the agent can no longer see, is counted as failed with the reason; the others go on."""
    job = BulkJob.objects.select_for_update().select_related("actor").get(pk=job_id)
    if job.is_finished:
        return job
    batch = job.ticket_ids[job.cursor : job.cursor + size]
    tickets = {t.pk: t for t in agent_tickets(job.actor).filter(pk__in=batch)}
    apply = ACTIONS[job.action]
    for ticket_id in batch:
        ticket = tickets.get(ticket_id)
        if ticket is None:
            _fail(job, ticket_id, None, "You can no longer work on this ticket.")
            continue
        try:
            with transaction.atomic():
                apply(ticket, job)
        except ServiceError as exc:
            _fail(job, ticket_id, ticket.number, str(exc))
        else:
            job.done += 1
    job.cursor += len(batch)
    job.state = BulkJob.State.RUNNING
    if job.cursor >= job.total:
        job.state = BulkJob.State.FINISHED
        job.finished_at = timezone.now()
    job.save(update_fields=["cursor", "done", "failed", "errors", "state", "finished_at"])
    return job


def _fail(job: BulkJob, ticket_id: int, number: int | None, error: str) -> None:
    job.failed += 1
    job.errors.append({"ticket": ticket_id, "number": number, "error": error})


def _assign(ticket: Ticket, job: BulkJob) -> Any:
    agent_id = job.params["assignee"]
    agent = get_user_model().objects.get(pk=agent_id) if agent_id else None
    return ticket_assign(ticket=ticket, agent=agent, actor=job.actor)


def _status(ticket: Ticket, job: BulkJob) -> Any:
    return ticket_set_status(ticket=ticket, status=job.params["status"], actor=job.actor)


def _priority(ticket: Ticket, job: BulkJob) -> Any:
    return ticket_set_priority(ticket=ticket, priority=job.params["priority"], actor=job.actor)


def _group(ticket: Ticket, job: BulkJob) -> Any:
    group_id = job.params["group"]
    group = Group.objects.filter(pk=group_id).first() if group_id else None
    if group_id and group is None:
        raise ServiceError("That group no longer exists.")
    return ticket_set_group(ticket=ticket, group=group, actor=job.actor)


def _tags_add(ticket: Ticket, job: BulkJob) -> Any:
    current = list(ticket.tags.values_list("name", flat=True))
    return ticket_set_tags(ticket=ticket, names=current + job.params["tags"], actor=job.actor)


def _tags_remove(ticket: Ticket, job: BulkJob) -> Any:
    drop = set(job.params["tags"])
    current = [n for n in ticket.tags.values_list("name", flat=True) if n not in drop]
    return ticket_set_tags(ticket=ticket, names=current, actor=job.actor)


def _macro(ticket: Ticket, job: BulkJob) -> Any:
    macro = Macro.objects.filter(pk=job.params["macro"], active=True).first()
    if macro is None:
        raise ServiceError("That macro is no longer active.")
    return macro_apply(ticket=ticket, macro=macro, actor=job.actor)


def _merge(ticket: Ticket, job: BulkJob) -> Any:
    target = agent_tickets(job.actor).filter(pk=job.params["target"]).first()
    if target is None:
        raise ServiceError(f"Ticket #{job.params['target_number']} can no longer be merged into.")
    return ticket_merge(source=ticket, target=target, actor=job.actor)


ACTIONS: dict[str, Apply] = {
    BulkJob.Action.ASSIGN: _assign,
    BulkJob.Action.STATUS: _status,
    BulkJob.Action.PRIORITY: _priority,
    BulkJob.Action.GROUP: _group,
    BulkJob.Action.TAGS_ADD: _tags_add,
    BulkJob.Action.TAGS_REMOVE: _tags_remove,
    BulkJob.Action.MACRO: _macro,
    BulkJob.Action.MERGE: _merge,
}

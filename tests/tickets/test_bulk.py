"""Bulk actions on the queue: every action through the services, access, and the worker."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from tests.conftest import client_for
from tests.factories import ContactFactory, make_agent, make_ticket
from tickets import services
from tickets.models import ActorKind, BulkJob, Macro, Ticket, TicketEvent
from tickets.services.bulk import BULK_BATCH_SIZE, BULK_INLINE_MAX, bulk_job_run_batch
from tickets.tasks import run_bulk_job

HTMX = {"HTTP_HX_REQUEST": "true"}


def _post(
    client: Client, tickets: list[Ticket], action: str, *, htmx: bool = False, **params: Any
) -> Any:
    data: dict[str, Any] = {"action": action, "ticket": [t.pk for t in tickets], **params}
    return client.post(reverse("desk:bulk"), data, **(HTMX if htmx else {}))


def _events(ticket: Ticket, kind: str) -> list[TicketEvent]:
    return list(TicketEvent.objects.filter(ticket=ticket, kind=kind))


@pytest.mark.django_db
def test_it_sets_the_status_of_the_checked_tickets_as_the_agent(
    agent_client: Client, agent: Any, support: Any
) -> None:
    tickets = [make_ticket(group=support) for _ in range(3)]

    response = _post(agent_client, tickets, "status", status="pending")

    job = BulkJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("desk:bulk_job", kwargs={"job_id": job.pk})
    assert (job.total, job.done, job.failed, job.state) == (3, 3, 0, "finished")
    for ticket in tickets:
        ticket.refresh_from_db()
        assert ticket.status == "pending"
        (event,) = _events(ticket, TicketEvent.Kind.STATUS)
        assert event.actor == agent and event.actor_kind == ActorKind.AGENT


@pytest.mark.django_db
def test_it_sets_priority_group_and_assignee(
    agent_client: Client, agent: Any, support: Any, billing: Any
) -> None:
    tickets = [make_ticket(group=support) for _ in range(2)]
    colleague = make_agent("cleo", groups=[support])

    _post(agent_client, tickets, "priority", priority=str(Ticket.Priority.URGENT))
    _post(agent_client, tickets, "assign", assignee=str(colleague.pk))
    for ticket in tickets:
        ticket.refresh_from_db()
        assert ticket.priority == Ticket.Priority.URGENT
        assert ticket.assignee == colleague
        assert _events(ticket, TicketEvent.Kind.PRIORITY)[0].actor == agent

    _post(agent_client, tickets, "group", group=str(billing.pk))
    for ticket in tickets:
        ticket.refresh_from_db()
        # moved to Billing, where the assignee does not work: unassigned by the service
        assert (ticket.group, ticket.assignee) == (billing, None)
        assert _events(ticket, TicketEvent.Kind.GROUP)[0].actor == agent


@pytest.mark.django_db
def test_it_adds_and_removes_tags(agent_client: Client, agent: Any, support: Any) -> None:
    tickets = [make_ticket(group=support) for _ in range(2)]
    services.ticket_set_tags(ticket=tickets[0], names=["vip"], actor=agent)

    _post(agent_client, tickets, "tags_add", tags="refund, Late Order")
    assert sorted(tickets[0].tags.values_list("name", flat=True)) == ["late-order", "refund", "vip"]
    assert sorted(tickets[1].tags.values_list("name", flat=True)) == ["late-order", "refund"]

    _post(agent_client, tickets, "tags_remove", tags="refund")
    assert sorted(tickets[0].tags.values_list("name", flat=True)) == ["late-order", "vip"]
    assert list(tickets[1].tags.values_list("name", flat=True)) == ["late-order"]


@pytest.mark.django_db
def test_it_applies_a_macro(agent_client: Client, agent: Any, support: Any) -> None:
    macro = Macro.objects.create(name="Close out", set_status="solved", add_tags="done")
    tickets = [make_ticket(group=support) for _ in range(2)]

    _post(agent_client, tickets, "macro", macro=str(macro.pk))

    for ticket in tickets:
        ticket.refresh_from_db()
        assert ticket.status == "solved"
        assert list(ticket.tags.values_list("name", flat=True)) == ["done"]


@pytest.mark.django_db
def test_it_merges_the_selection_into_the_chosen_ticket(
    agent_client: Client, agent: Any, support: Any
) -> None:
    target, *others = [make_ticket(group=support) for _ in range(3)]

    _post(agent_client, [target, *others], "merge", target=f"#{target.number}")

    job = BulkJob.objects.get()
    assert (job.total, job.done) == (2, 2)  # the target itself is not merged into itself
    for ticket in others:
        ticket.refresh_from_db()
        assert ticket.merged_into == target
    target.refresh_from_db()
    assert target.message_count == 3
    assert len(_events(target, TicketEvent.Kind.MERGED)) == 2


@pytest.mark.django_db
def test_it_ignores_tickets_the_agent_cannot_see(
    agent_client: Client, support: Any, billing: Any
) -> None:
    mine = make_ticket(group=support)
    theirs = make_ticket(group=billing)

    _post(agent_client, [mine, theirs], "status", status="pending")

    job = BulkJob.objects.get()
    assert job.ticket_ids == [mine.pk] and job.total == 1
    theirs.refresh_from_db()
    assert theirs.status == "new"
    assert not _events(theirs, TicketEvent.Kind.STATUS)


@pytest.mark.django_db
def test_it_refuses_a_selection_of_only_forged_ids(agent_client: Client, billing: Any) -> None:
    theirs = make_ticket(group=billing)

    response = _post(agent_client, [theirs], "status", status="pending")
    assert response.status_code == 302 and response["Location"] == reverse("desk:queue")
    assert not BulkJob.objects.exists()
    page = agent_client.get(reverse("desk:queue"))
    assert "Select at least one ticket you can work on." in page.content.decode()

    response = agent_client.post(
        reverse("desk:bulk"), {"action": "status", "status": "open", "ticket": ["x1"]}
    )
    assert response.status_code == 302
    assert not BulkJob.objects.exists()


@pytest.mark.django_db
def test_it_refuses_a_merge_into_a_ticket_the_agent_cannot_see(
    agent_client: Client, support: Any, billing: Any
) -> None:
    mine = make_ticket(group=support)
    theirs = make_ticket(group=billing)

    response = _post(agent_client, [mine], "merge", target=str(theirs.number), htmx=True)

    assert "Choose a ticket you can see to merge into." in response.content.decode()
    mine.refresh_from_db()
    assert mine.merged_into is None


@pytest.mark.django_db
def test_it_reports_each_ticket_the_rules_refuse(
    agent_client: Client, agent: Any, support: Any
) -> None:
    ok = make_ticket(group=support)
    closed = make_ticket(group=support)
    services.ticket_set_status(ticket=closed, status="closed", actor=None)

    response = _post(agent_client, [ok, closed], "status", status="open", htmx=True)

    job = BulkJob.objects.get()
    assert (job.done, job.failed) == (1, 1)
    assert job.errors[0]["number"] == closed.number
    assert "closed ticket cannot be changed" in job.errors[0]["error"]
    body = response.content.decode()
    assert "1 failed" in body and f"#{closed.number}" in body
    assert response["HX-Trigger"] == "bulk-finished"


@pytest.mark.django_db
def test_it_runs_on_every_ticket_the_filters_match(
    agent_client: Client, support: Any, billing: Any, django_capture_on_commit_callbacks: Any
) -> None:
    urgent = [make_ticket(group=support, priority=Ticket.Priority.URGENT) for _ in range(3)]
    normal = make_ticket(group=support)
    hidden = make_ticket(group=billing, priority=Ticket.Priority.URGENT)

    agent_client.post(
        reverse("desk:bulk"),
        {
            "action": "status",
            "status": "pending",
            "all_matching": "1",
            "matching": f"priority={Ticket.Priority.URGENT}&page=2",
        },
    )

    job = BulkJob.objects.get()
    assert sorted(job.ticket_ids) == sorted(t.pk for t in urgent)
    assert Ticket.objects.get(pk=normal.pk).status == "new"
    assert Ticket.objects.get(pk=hidden.pk).status == "new"


@pytest.mark.django_db
def test_only_its_agent_sees_a_job(
    agent_client: Client, agent: Any, support: Any, other_agent: Any, customer: Any
) -> None:
    _post(agent_client, [make_ticket(group=support)], "status", status="pending")
    url = reverse("desk:bulk_job", kwargs={"job_id": BulkJob.objects.get().pk})

    page = agent_client.get(url)
    assert page.status_code == 200 and "1 of 1 tickets" in page.content.decode()
    assert client_for(other_agent).get(url).status_code == 404
    assert client_for(customer).get(url).status_code == 403
    assert client_for(customer).post(reverse("desk:bulk"), {}).status_code == 403


@pytest.mark.django_db
def test_a_large_job_goes_to_the_worker_and_runs_in_batches(
    agent_client: Client, agent: Any, support: Any, django_capture_on_commit_callbacks: Any
) -> None:
    tickets = [make_ticket(group=support, contact=ContactFactory()) for _ in range(60)]
    assert len(tickets) > BULK_INLINE_MAX

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _post(agent_client, tickets, "status", status="pending", htmx=True)
    job = BulkJob.objects.get()
    assert job.state == "queued" and job.done == 0
    assert 'hx-trigger="every 1s"' in response.content.decode()
    assert any("run_bulk_job" in repr(c) or callable(c) for c in callbacks)

    job = bulk_job_run_batch(job_id=job.pk)
    assert (job.cursor, job.done, job.state) == (BULK_BATCH_SIZE, BULK_BATCH_SIZE, "running")
    progress = agent_client.get(reverse("desk:bulk_job", kwargs={"job_id": job.pk}), **HTMX)
    assert f"{BULK_BATCH_SIZE} of 60 tickets" in progress.content.decode()
    assert "HX-Trigger" not in progress

    run_bulk_job.run(job.pk)
    job.refresh_from_db()
    assert (job.done, job.failed, job.state) == (60, 0, "finished")
    # a second delivery of the task changes nothing
    run_bulk_job.run(job.pk)
    assert TicketEvent.objects.filter(kind=TicketEvent.Kind.STATUS).count() == 60


@pytest.mark.django_db(transaction=True)
def test_the_worker_runs_a_job_on_200_tickets_with_progress(live_worker: Any) -> None:
    from tests.factories import GroupFactory

    team = GroupFactory(name="Support")
    agent = make_agent("ada", groups=[team])
    contact = ContactFactory()
    tickets = [make_ticket(group=team, contact=contact) for _ in range(210)]
    client = client_for(agent)

    response = _post(client, tickets, "priority", priority=str(Ticket.Priority.HIGH), htmx=True)
    assert response.status_code == 200
    job = BulkJob.objects.get()
    url = reverse("desk:bulk_job", kwargs={"job_id": job.pk})

    seen: list[int] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        job.refresh_from_db()
        seen.append(job.processed)
        if job.is_finished:
            break
        time.sleep(0.05)
    assert job.is_finished, f"the job stopped at {job.processed} of {job.total}"
    assert (job.total, job.done, job.failed) == (210, 210, 0)
    assert seen == sorted(seen)  # progress only grows
    assert set(seen) <= {0, 50, 100, 150, 200, 210}  # whole batches commit at once
    body = client.get(url, **HTMX).content.decode()
    assert "210 of 210 tickets" in body and "every 1s" not in body
    assert Ticket.objects.filter(priority=Ticket.Priority.HIGH).count() == 210
    assert TicketEvent.objects.filter(kind=TicketEvent.Kind.PRIORITY, actor=agent).count() == 210

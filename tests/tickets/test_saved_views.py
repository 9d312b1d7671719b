"""Saved views: personal or shared with a team, with filters (a search among them), columns
and sort; live counts in the queue's sidebar; the desk forms, the API and the rules of who
sees and changes what."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from tests.conftest import client_for
from tests.factories import make_agent, make_ticket
from tickets import saved_views, services
from tickets.models import SavedView, Ticket

pytestmark = pytest.mark.django_db
API = "/api/v1/views/"


def api_for(user: Any) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def tickets(agent: Any, support: Any) -> dict[str, Ticket]:
    refund = make_ticket(group=support, subject="Refund my order", text="charged twice")
    services.ticket_set_tags(ticket=refund, names=["billing"], actor=agent)
    other = make_ticket(group=support, subject="Printer jam", text="paper stuck")
    solved = make_ticket(group=support, subject="Old refund", text="done")
    services.ticket_set_status(ticket=solved, status=Ticket.Status.SOLVED, actor=agent)
    return {"refund": refund, "other": other, "solved": solved}


def test_an_agent_saves_the_current_filters_from_the_desk(
    agent_client: Client, tickets: dict[str, Ticket]
) -> None:
    response = agent_client.post(
        reverse("desk:saved_view_save"),
        {
            "name": "Open refunds",
            "q": "refund tag:billing",
            "status": "",
            "sort": "-updated_at",
            "columns": ["number", "subject", "status"],
            "share_with": "",
        },
    )
    view = SavedView.objects.get(name="Open refunds")
    assert response.status_code == 302 and response["Location"].endswith(f"?saved={view.pk}")
    assert view.filters == {"q": "refund tag:billing"} and view.group is None
    assert view.columns == ["number", "subject", "status"] and view.sort == "-updated_at"

    page = agent_client.get(reverse("desk:queue"), {"saved": view.pk}).content.decode()
    assert "Refund my order" in page and "Printer jam" not in page and "Old refund" not in page
    assert '<th scope="col">Status</th>' in page and '<th scope="col">Requester</th>' not in page
    assert f'data-count-for="saved-{view.pk}">1<' in page  # the live count in the sidebar
    assert "Open refunds" in page


def test_a_bad_view_is_refused_with_a_reason(
    agent_client: Client, billing: Any, tickets: dict[str, Ticket]
) -> None:
    response = agent_client.post(
        reverse("desk:saved_view_save"), {"name": "Bad", "q": "colour:red"}, follow=True
    )
    assert "Unknown operator" in response.content.decode()
    response = agent_client.post(
        reverse("desk:saved_view_save"), {"name": "Theirs", "share_with": billing.pk}, follow=True
    )
    assert not SavedView.objects.exists()


def test_saving_again_under_the_same_name_updates_the_view(agent: Any, support: Any) -> None:
    first = saved_views.saved_view_save(owner=agent, name="Mine", filters={"status": "open"})
    again = saved_views.saved_view_save(
        owner=agent, name="Mine", filters={"status": "pending"}, group=support
    )
    assert first.pk == again.pk and again.filters == {"status": "pending"}
    assert again.group == support and SavedView.objects.count() == 1


def test_who_sees_a_view(
    agent: Any, other_agent: Any, supervisor: Any, support: Any, tickets: dict[str, Ticket]
) -> None:
    personal = saved_views.saved_view_save(owner=agent, name="Just me", filters={"q": "refund"})
    shared = saved_views.saved_view_save(
        owner=agent, name="Team refunds", filters={"q": "refund"}, group=support
    )
    teammate = make_agent("tess", groups=[support])

    assert set(saved_views.visible_saved_views(agent)) == {personal, shared}
    assert list(saved_views.visible_saved_views(teammate)) == [shared]
    assert list(saved_views.visible_saved_views(other_agent)) == []
    assert list(saved_views.visible_saved_views(supervisor)) == [shared]

    other = client_for(other_agent)
    assert other.get(reverse("desk:queue"), {"saved": personal.pk}).status_code == 404
    assert other.get(reverse("desk:queue"), {"saved": shared.pk}).status_code == 404
    assert api_for(other_agent).get(f"{API}{shared.pk}/").status_code == 404
    # a teammate sees the shared view, but only the owner (or a supervisor) may delete it
    mate = client_for(teammate)
    assert mate.get(reverse("desk:queue"), {"saved": shared.pk}).status_code == 200
    delete = reverse("desk:saved_view_delete", args=[shared.pk])
    assert mate.post(delete).status_code == 403
    assert api_for(teammate).delete(f"{API}{shared.pk}/").status_code == 403
    assert client_for(supervisor).post(delete).status_code == 302
    assert not SavedView.objects.filter(pk=shared.pk).exists()


def test_counts_are_live_and_in_one_query(
    agent: Any, support: Any, tickets: dict[str, Ticket], django_assert_num_queries: Any
) -> None:
    views = [
        saved_views.saved_view_save(owner=agent, name="Refunds", filters={"q": "refund"}),
        saved_views.saved_view_save(owner=agent, name="Open", filters={"status": "new"}),
        saved_views.saved_view_save(
            owner=agent, name="Solved", filters={"view": "all", "status": "solved"}
        ),
    ]
    saved_views.saved_view_tickets(agent, views[0])  # builds the search documents
    with django_assert_num_queries(2):  # the repair check, then every count
        counts = saved_views.saved_view_counts(agent, views)
    # a search view looks at every ticket unless it names a view (as the queue's search does)
    assert counts == {views[0].pk: "2", views[1].pk: "2", views[2].pk: "1"}
    make_ticket(group=support, subject="Another refund")
    assert saved_views.saved_view_counts(agent, views)[views[0].pk] == "3"


def test_the_api_manages_views(
    agent: Any, support: Any, billing: Any, tickets: dict[str, Ticket]
) -> None:
    api = api_for(agent)
    created = api.post(
        API,
        {
            "name": "Refunds",
            "filters": {"q": "refund", "status": "new"},
            "columns": ["number", "subject"],
            "sort": "-priority",
            "group": support.pk,
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["name"] == "Refunds" and body["group"] == support.pk and body["count"] == "1"
    assert body["owner"]["id"] == agent.pk

    listed = api.get(API).json()
    assert [v["name"] for v in listed["results"]] == ["Refunds"]
    view_id = body["id"]
    changed = api.patch(f"{API}{view_id}/", {"name": "All refunds"}, format="json")
    assert changed.status_code == 200 and changed.json()["filters"]["q"] == "refund"
    found = api.get(f"{API}{view_id}/tickets/").json()
    assert [t["number"] for t in found["results"]] == [tickets["refund"].number]
    assert "<mark>" in found["results"][0]["snippet"] + found["results"][0]["subject_highlight"]

    bad = api.post(API, {"name": "Bad", "filters": {"q": "colour:red"}}, format="json")
    assert bad.status_code == 400 and "Unknown operator" in str(bad.json())
    unknown = api.post(API, {"name": "Bad", "filters": {"colour": "red"}}, format="json")
    assert unknown.status_code == 400
    foreign = api.post(API, {"name": "Theirs", "group": billing.pk}, format="json")
    assert foreign.status_code == 400 and "team you belong to" in str(foreign.json())
    assert api.delete(f"{API}{view_id}/").status_code == 204
    assert not SavedView.objects.exists()


def test_customers_have_no_saved_views(customer: Any, agent: Any) -> None:
    saved_views.saved_view_save(owner=agent, name="Mine", filters={})
    assert api_for(customer).get(API).status_code == 403
    assert (
        client_for(customer).post(reverse("desk:saved_view_save"), {"name": "x"}).status_code == 403
    )

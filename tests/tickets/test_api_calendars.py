"""/api/v1/calendars/: admins create and change calendars, agents read them and ask for due
times and elapsed business minutes; bad input gets a 400 that says what is wrong."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.factories import GroupFactory
from tickets.calendar_models import Calendar, CalendarHoliday
from tickets.models import Group

pytestmark = pytest.mark.django_db

API = "/api/v1/calendars/"
OFFICE = {
    "name": "Berlin office",
    "timezone": "Europe/Berlin",
    "hours": {day: [["09:00", "17:00"]] for day in ["mon", "tue", "wed", "thu", "fri"]},
    "holidays": ["2026-12-25", "2026-12-07"],
}


def api_for(user: Any | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def admin_api(admin_user: Any) -> APIClient:
    return api_for(admin_user)


@pytest.fixture
def office(admin_api: APIClient) -> dict[str, Any]:
    response = admin_api.post(API, OFFICE, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_an_admin_creates_a_calendar(admin_api: APIClient) -> None:
    response = admin_api.post(API, OFFICE, format="json")
    assert response.status_code == 201
    body = response.json()
    assert isinstance(body["id"], int)
    assert body["name"] == "Berlin office"
    assert body["timezone"] == "Europe/Berlin"
    assert body["hours"] == OFFICE["hours"]
    assert body["holidays"] == ["2026-12-07", "2026-12-25"]
    assert body["is_default"] is False
    calendar = Calendar.objects.get(pk=body["id"])
    assert set(calendar.holidays.values_list("date", flat=True)) == {
        datetime(2026, 12, 7).date(),  # noqa: DTZ001
        datetime(2026, 12, 25).date(),  # noqa: DTZ001
    }


def test_due_friday_afternoon_lands_on_tuesday_when_monday_is_a_holiday(
    office: dict[str, Any], agent: Any
) -> None:
    client = api_for(agent)
    url = f"{API}{office['id']}/due/"
    response = client.get(url, {"start": "2026-12-04T16:30:00+01:00", "minutes": 60})
    assert response.status_code == 200, response.content
    assert datetime.fromisoformat(response.json()["due"]) == datetime.fromisoformat(
        "2026-12-08T09:30:00+01:00"
    )
    assert response.json()["due"] == "2026-12-08T09:30:00+01:00"
    # the week after: Monday 14th is open
    response = client.get(url, {"start": "2026-12-11T16:30:00+01:00", "minutes": 60})
    assert response.json()["due"] == "2026-12-14T09:30:00+01:00"
    # an instant given in UTC, a "Z" suffix
    response = client.get(url, {"start": "2026-12-11T15:30:00Z", "minutes": 60})
    assert response.json()["due"] == "2026-12-14T09:30:00+01:00"


def test_elapsed_counts_business_minutes(office: dict[str, Any], agent: Any) -> None:
    client = api_for(agent)
    url = f"{API}{office['id']}/elapsed/"
    response = client.get(
        url, {"start": "2026-12-04T16:30:00+01:00", "end": "2026-12-08T09:30:00+01:00"}
    )
    assert response.status_code == 200
    assert response.json() == {"minutes": 60}
    response = client.get(
        url, {"start": "2026-12-08T09:30:00+01:00", "end": "2026-12-04T16:30:00+01:00"}
    )
    assert response.json() == {"minutes": 0}


def test_an_unencoded_plus_in_the_query_string_still_reads_as_an_offset(
    office: dict[str, Any], agent: Any
) -> None:
    response = api_for(agent).get(
        f"{API}{office['id']}/due/?start=2026-12-04T16:30:00+01:00&minutes=60"
    )
    assert response.status_code == 200
    assert response.json()["due"] == "2026-12-08T09:30:00+01:00"


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        ({"start": "2026-12-04T16:30:00", "minutes": 60}, "start", "naive"),
        ({"start": "2026-12-04", "minutes": 60}, "start", "naive"),
        ({"start": "next friday", "minutes": 60}, "start", "not an ISO 8601"),
        ({"minutes": 60}, "start", "required"),
        ({"start": "2026-12-04T16:30:00+01:00", "minutes": "-5"}, "minutes", "whole number"),
        ({"start": "2026-12-04T16:30:00+01:00", "minutes": "1.5"}, "minutes", "whole number"),
        ({"start": "2026-12-04T16:30:00+01:00"}, "minutes", "whole number"),
        ({"start": "2026-12-04T16:30:00+01:00", "minutes": "99999999999"}, "minutes", "at most"),
    ],
)
def test_bad_due_input_is_a_clear_400(
    office: dict[str, Any], agent: Any, query: dict[str, Any], field: str, words: str
) -> None:
    response = api_for(agent).get(f"{API}{office['id']}/due/", query)
    assert response.status_code == 400
    body = response.json()
    assert words in body[field][0]
    assert body["detail"].startswith(f"{field}: ")


def test_bad_elapsed_input_is_a_clear_400(office: dict[str, Any], agent: Any) -> None:
    response = api_for(agent).get(
        f"{API}{office['id']}/elapsed/", {"start": "2026-12-04T16:30:00+01:00", "end": "2026-12-05"}
    )
    assert response.status_code == 400
    assert "naive" in response.json()["end"][0]


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"timezone": "Europe/Atlantis"}, "timezone", "Unknown timezone"),
        ({"timezone": ""}, "timezone", ""),
        ({"hours": {"mon": [["9am", "5pm"]]}}, "hours", "HH:MM"),
        ({"hours": {"mon": [["17:00", "09:00"]]}}, "hours", "ends before it starts"),
        ({"hours": {"mon": [["09:00", "13:00"], ["12:00", "17:00"]]}}, "hours", "overlaps"),
        ({"hours": {"funday": [["09:00", "17:00"]]}}, "hours", "Unknown day"),
        ({"hours": {"mon": [["09:00", "25:00"]]}}, "hours", "HH:MM"),
        ({"holidays": ["2026-02-30"]}, "holidays", "YYYY-MM-DD"),
        ({"holidays": "2026-12-25"}, "holidays", "list of dates"),
        ({"name": ""}, "name", ""),
    ],
)
def test_a_bad_calendar_is_a_clear_400_and_nothing_is_saved(
    admin_api: APIClient, change: dict[str, Any], field: str, words: str
) -> None:
    response = admin_api.post(API, {**OFFICE, **change}, format="json")
    assert response.status_code == 400
    assert words in str(response.json()[field])
    assert not Calendar.objects.exists()


def test_a_duplicate_name_is_refused(admin_api: APIClient, office: dict[str, Any]) -> None:
    response = admin_api.post(API, {**OFFICE, "name": "berlin OFFICE"}, format="json")
    assert response.status_code == 400
    assert "exists already" in response.json()["detail"]


def test_24_00_and_several_segments_and_closed_days(admin_api: APIClient, agent: Any) -> None:
    body = {
        "name": "Round the clock",
        "timezone": "America/New_York",
        "hours": {day: [["00:00", "24:00"]] for day in ["mon", "tue", "wed", "thu", "fri"]}
        | {"sat": [["08:00", "12:00"], ["13:00", "17:00"]]},
    }
    created = admin_api.post(API, body, format="json").json()
    client = api_for(agent)
    response = client.get(
        f"{API}{created['id']}/elapsed/",
        {"start": "2026-12-03T23:00:00-05:00", "end": "2026-12-04T01:00:00-05:00"},
    )
    assert response.json() == {"minutes": 120}  # no gap at midnight
    response = client.get(
        f"{API}{created['id']}/due/", {"start": "2026-12-05T11:30:00-05:00", "minutes": 60}
    )
    assert response.json()["due"] == "2026-12-05T13:30:00-05:00"  # lunch skipped
    response = client.get(
        f"{API}{created['id']}/due/", {"start": "2026-12-05T16:30:00-05:00", "minutes": 60}
    )
    assert response.json()["due"] == "2026-12-07T00:30:00-05:00"  # Sunday closed


def test_agents_read_and_only_admins_write(
    office: dict[str, Any], agent: Any, supervisor: Any, customer: Any, outsider: Any
) -> None:
    detail = f"{API}{office['id']}/"
    for user in (agent, supervisor):
        client = api_for(user)
        assert client.get(API).status_code == 200
        assert client.get(detail).json()["name"] == "Berlin office"
        assert client.post(API, {**OFFICE, "name": "Mine"}, format="json").status_code == 403
        assert client.patch(detail, {"name": "X"}, format="json").status_code == 403
        assert client.delete(detail).status_code == 403
    for user in (customer, outsider):
        client = api_for(user)
        assert client.get(API).status_code == 403
        assert (
            client.get(f"{detail}due/", {"start": "2026-12-04T16:30:00Z", "minutes": 1}).status_code
            == 403
        )
    assert api_for(None).get(API).status_code in {401, 403}
    assert Calendar.objects.get().name == "Berlin office"


def test_patch_put_and_delete(admin_api: APIClient, office: dict[str, Any], support: Group) -> None:
    detail = f"{API}{office['id']}/"
    response = admin_api.patch(
        detail,
        {
            "name": "Berlin",
            "yearly_holidays": ["12-24"],
            "groups": [support.pk],
            "is_default": True,
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["name"] == "Berlin"
    assert body["hours"] == OFFICE["hours"]  # untouched
    assert body["holidays"] == ["2026-12-07", "2026-12-25"]  # untouched
    assert body["yearly_holidays"] == ["12-24"]
    assert body["is_default"] is True
    assert body["groups"] == [support.pk]
    support.refresh_from_db()
    assert support.calendar_id == office["id"]

    response = admin_api.put(
        detail,
        {"name": "Berlin", "timezone": "Europe/Berlin", "hours": {"sat": [["10:00", "14:00"]]}},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["hours"] == {"sat": [["10:00", "14:00"]]}
    assert response.json()["holidays"] == []  # a PUT replaces everything
    assert response.json()["yearly_holidays"] == []

    assert admin_api.delete(detail).status_code == 204
    support.refresh_from_db()
    assert support.calendar_id is None
    assert not CalendarHoliday.objects.exists()


def test_one_default_calendar(admin_api: APIClient) -> None:
    first = admin_api.post(API, {**OFFICE, "is_default": True}, format="json").json()
    second = admin_api.post(
        API,
        {**OFFICE, "name": "New York", "timezone": "America/New_York", "is_default": True},
        format="json",
    ).json()
    assert second["is_default"] is True
    assert admin_api.get(f"{API}{first['id']}/").json()["is_default"] is False
    assert Calendar.objects.filter(is_default=True).count() == 1


def test_holiday_objects_with_names_and_yearly_flag(admin_api: APIClient, agent: Any) -> None:
    body = {
        **OFFICE,
        "holidays": [
            {"date": "2026-12-07", "name": "Team day"},
            {"date": "2026-12-25", "name": "Christmas", "yearly": True},
        ],
    }
    created = admin_api.post(API, body, format="json").json()
    assert created["holidays"] == ["2026-12-07"]
    assert created["yearly_holidays"] == ["12-25"]
    names = {d["name"] for d in created["holiday_details"]}
    assert names == {"Team day", "Christmas"}
    response = api_for(agent).get(
        f"{API}{created['id']}/due/", {"start": "2028-12-22T16:30:00+01:00", "minutes": 60}
    )
    assert response.json()["due"] == "2028-12-26T09:30:00+01:00"  # 25th (Monday) closed


def test_the_list_costs_the_same_queries_for_many_calendars(
    admin_api: APIClient, django_assert_max_num_queries: Any
) -> None:
    for i in range(6):
        group = GroupFactory()
        admin_api.post(
            API,
            {**OFFICE, "name": f"Office {i}", "groups": [group.pk], "yearly_holidays": ["01-01"]},
            format="json",
        )
    with django_assert_max_num_queries(8):
        response = admin_api.get(API)
    assert response.json()["count"] == 6
    assert all(row["groups"] for row in response.json()["results"])


def test_the_schema_documents_the_calendar_endpoints(admin_api: APIClient) -> None:
    schema = admin_api.get("/api/schema/", {"format": "json"}).json()
    paths = schema["paths"]
    assert "/api/v1/calendars/" in paths
    due = paths["/api/v1/calendars/{id}/due/"]["get"]
    assert {p["name"] for p in due["parameters"]} >= {"start", "minutes"}
    assert "400" in due["responses"]
    assert "/api/v1/calendars/{id}/elapsed/" in paths

"""The OpenAPI description of the API is served and valid, with no warning left unresolved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import call_command

from tests.conftest import client_for


@pytest.mark.django_db
def test_it_serves_the_schema_to_an_agent(agent: Any) -> None:
    response = client_for(agent).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert "/api/v1/tickets/{number}/messages/" in schema["paths"]
    assert "/api/v1/auth/token/" in schema["paths"]


def test_it_generates_a_valid_schema_without_warnings(tmp_path: Path) -> None:
    target = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    schema = yaml.safe_load(target.read_text())
    ticket_list = schema["paths"]["/api/v1/tickets/"]["get"]
    assert {p["name"] for p in ticket_list["parameters"]} >= {
        "status",
        "priority",
        "channel",
        "group",
        "assignee",
        "tag",
        "contact",
        "updated_after",
        "updated_before",
        "q",
        "ordering",
        "page",
        "page_size",
    }


@pytest.mark.django_db
def test_the_docs_page_loads_nothing_from_another_host(agent: Any) -> None:
    response = client_for(agent).get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "swagger-ui" in page
    assert "cdn" not in page and "https://" not in page, page

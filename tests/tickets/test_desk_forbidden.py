"""A customer who opens the desk gets our styled page pointing to the portal, and the server
logs no traceback for it."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.urls import reverse

from tests.conftest import client_for


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/desk/", "/desk/tickets/new/", "/desk/bulk/1/"])
def test_a_customer_is_pointed_to_the_portal_without_a_traceback(
    customer: Any, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    with caplog.at_level(logging.DEBUG):
        response = client_for(customer).get(path)

    assert response.status_code == 403
    body = response.content.decode()
    assert "tickets/desk_forbidden.html" in [t.name for t in response.templates]
    assert "Not allowed" in body and "Your requests, and every answer to them" in body
    assert f'href="{reverse("portal:tickets")}"' in body and "Go to my requests" in body
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


@pytest.mark.django_db
def test_someone_who_is_neither_gets_the_page_without_the_portal_link(
    outsider: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        response = client_for(outsider).get("/desk/")
    assert response.status_code == 403
    body = response.content.decode()
    assert "ask an administrator" in body and "Go to my requests" not in body
    assert not [r for r in caplog.records if r.exc_info]


@pytest.mark.django_db
def test_a_customer_posting_to_the_desk_changes_nothing(customer: Any) -> None:
    response = client_for(customer).post(reverse("desk:bulk"), {"action": "status"})
    assert response.status_code == 403

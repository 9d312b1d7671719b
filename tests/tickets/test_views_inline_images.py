"""Inline (cid:) images from email are shown to agents who may see the ticket, and only images."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import client_for
from tests.factories import make_ticket
from tickets.models import Attachment
from tickets.types import IncomingAttachment

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00"
    b"\x00\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00"
    b"\x00\x00\x00IEND\xaeB`\x82"
)


def _ticket_with(support: Any, name: str, content_type: str, payload: bytes) -> Attachment:
    ticket = make_ticket(
        group=support,
        attachments=[
            IncomingAttachment(
                filename=name,
                content_type=content_type,
                payload=payload,
                content_id="img1",
                inline=True,
            )
        ],
    )
    return Attachment.objects.get(message__ticket=ticket)


@pytest.mark.django_db
def test_it_serves_an_inline_image_to_an_agent_of_the_group(support: Any, agent: Any) -> None:
    image = _ticket_with(support, "logo.png", "image/png", PNG)
    response = client_for(agent).get(f"/desk/attachments/{image.pk}/inline/")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert "attachment" not in response.get("Content-Disposition", "")
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.django_db
def test_it_refuses_inline_images_to_other_groups_and_customers(
    support: Any, other_agent: Any, customer: Any
) -> None:
    image = _ticket_with(support, "logo.png", "image/png", PNG)
    assert client_for(other_agent).get(f"/desk/attachments/{image.pk}/inline/").status_code == 404
    assert client_for(customer).get(f"/desk/attachments/{image.pk}/inline/").status_code in (
        403,
        404,
    )


@pytest.mark.django_db
def test_it_never_shows_svg_or_html_inline(support: Any, agent: Any) -> None:
    svg = _ticket_with(support, "x.svg", "image/svg+xml", b"<svg onload='alert(1)'/>")
    assert client_for(agent).get(f"/desk/attachments/{svg.pk}/inline/").status_code == 404

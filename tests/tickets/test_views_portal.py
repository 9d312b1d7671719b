"""The customer portal: own and organisation tickets only, public messages only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings
from django.urls import reverse

from tests.conftest import client_for
from tests.factories import ContactFactory, OrganisationFactory, UserFactory, make_ticket
from tickets import services
from tickets.models import Channel, Message, Ticket
from tickets.types import IncomingAttachment

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(tmp_path: Path) -> Iterator[Path]:
    with override_settings(MEDIA_ROOT=tmp_path / "media"):
        yield tmp_path / "media"


def portal_url(ticket: Ticket) -> str:
    return reverse("portal:ticket", kwargs={"number": ticket.number})


def test_it_lists_the_customers_own_tickets_only(customer: Any, other_customer: Any) -> None:
    make_ticket(contact=customer.contact, subject="My printer")
    make_ticket(contact=other_customer.contact, subject="Dave's router")

    response = client_for(customer).get(reverse("portal:tickets"))

    body = response.content.decode()
    assert response.status_code == 200
    assert "My printer" in body and "Dave&#x27;s router" not in body and "Dave's router" not in body


def test_it_shows_colleagues_tickets_of_the_same_organisation(customer: Any) -> None:
    org = OrganisationFactory(name="Acme")
    contact = customer.contact
    contact.organisation = org
    contact.save(update_fields=["organisation"])
    colleague = ContactFactory(name="Colin", organisation=org)
    ticket = make_ticket(contact=colleague, subject="Colin's laptop")

    client = client_for(customer)
    assert "Colin" in client.get(reverse("portal:tickets")).content.decode()
    assert client.get(portal_url(ticket)).status_code == 200


def test_it_shows_public_messages_but_never_notes(customer: Any, agent: Any, support: Any) -> None:
    ticket = make_ticket(contact=customer.contact, group=support, text="Help me")
    services.ticket_note(ticket=ticket, author=agent, text="Secret internal remark")
    services.ticket_reply(ticket=ticket, author=agent, text="Public answer")

    body = client_for(customer).get(portal_url(ticket)).content.decode()

    assert "Help me" in body and "Public answer" in body
    assert "Secret internal remark" not in body


def test_it_hides_other_customers_tickets(customer: Any, other_customer: Any) -> None:
    theirs = make_ticket(contact=other_customer.contact)
    client = client_for(customer)
    assert client.get(portal_url(theirs)).status_code == 404
    assert client.post(portal_url(theirs), {"text": "let me in"}).status_code == 404
    assert theirs.messages.count() == 1


def test_it_sends_anonymous_visitors_to_login_and_agents_to_the_desk(
    agent: Any, support: Any
) -> None:
    ticket = make_ticket(group=support)
    anonymous = Client().get(reverse("portal:tickets"))
    assert anonymous.status_code == 302 and reverse("account_login") in anonymous["Location"]
    desk = client_for(agent).get(portal_url(ticket))
    assert desk["Location"] == reverse("desk:ticket", kwargs={"number": ticket.number})


def test_it_gives_a_login_without_contact_an_empty_list_and_404s(
    outsider: Any, customer: Any
) -> None:
    ticket = make_ticket(contact=customer.contact)
    client = client_for(outsider)
    listing = client.get(reverse("portal:tickets"))
    assert listing.status_code == 200 and "No requests yet" in listing.content.decode()
    assert client.get(portal_url(ticket)).status_code == 404
    assert client.get(reverse("portal:new")).status_code == 404


def test_it_adds_the_customers_reply_through_ingest(
    customer: Any, agent: Any, support: Any
) -> None:
    ticket = make_ticket(contact=customer.contact, group=support)
    services.ticket_reply(ticket=ticket, author=agent, text="Try turning it off")
    upload = SimpleUploadedFile("photo.jpg", b"\xff\xd8jpeg", content_type="image/jpeg")

    response = client_for(customer).post(
        portal_url(ticket), {"text": "Still broken", "attachments": [upload]}
    )

    assert response.status_code == 302
    message = Message.objects.filter(ticket=ticket).order_by("-created_at", "-id").first()
    assert message.kind == Message.Kind.CUSTOMER and message.text == "Still broken"
    assert message.channel == Channel.WEB and message.author_contact_id == customer.contact.pk
    assert [a.filename for a in message.attachments.all()] == ["photo.jpg"]
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.OPEN  # the customer's answer reopens a pending ticket


def test_it_opens_a_new_ticket_for_the_customer(customer: Any) -> None:
    response = client_for(customer).post(
        reverse("portal:new"),
        {
            "subject": "Cannot log in",
            "text": "The page says no.",
        },
    )

    ticket = Ticket.objects.get(subject="Cannot log in")
    assert response["Location"] == portal_url(ticket)
    assert ticket.contact_id == customer.contact.pk and ticket.channel == Channel.WEB
    assert ticket.messages.get().text == "The page says no."


def test_it_keeps_the_form_when_a_new_ticket_is_incomplete(customer: Any) -> None:
    response = client_for(customer).post(reverse("portal:new"), {"subject": "", "text": "x"})
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not Ticket.objects.exists()


def test_it_downloads_public_attachments_but_not_notes_or_others(
    customer: Any, other_customer: Any
) -> None:
    ticket = make_ticket(
        contact=customer.contact,
        attachments=[IncomingAttachment("receipt.pdf", "application/pdf", b"%PDF")],
    )
    attachment = ticket.messages.get().attachments.get()
    url = reverse("portal:attachment", kwargs={"attachment_id": attachment.pk})

    response = client_for(customer).get(url)

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="receipt.pdf"'
    assert response["Content-Type"] == "application/pdf"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert client_for(other_customer).get(url).status_code == 404
    Message.objects.filter(pk=attachment.message_id).update(kind=Message.Kind.NOTE)
    assert client_for(customer).get(url).status_code == 404


def test_it_refuses_replies_on_closed_tickets(customer: Any) -> None:
    ticket = make_ticket(contact=customer.contact)
    services.ticket_set_status(ticket=ticket, status=Ticket.Status.CLOSED, actor=None)
    client = client_for(customer)
    page = client.get(portal_url(ticket)).content.decode()
    assert "This request is closed" in page
    client.post(portal_url(ticket), {"text": "hello again"})
    assert ticket.messages.count() == 1


def test_it_explains_when_the_customer_has_no_email_on_file() -> None:
    user = UserFactory(username="nomail")
    contact = ContactFactory(name="No Mail", user=user)
    contact.identities.all().delete()
    ticket = make_ticket(contact=contact)

    response = client_for(user).post(portal_url(ticket), {"text": "hi"}, follow=True)

    assert "no email address on file" in response.content.decode()
    assert ticket.messages.count() == 1


@pytest.mark.parametrize("name", ["account_login", "account_signup", "account_reset_password"])
def test_it_renders_the_account_pages_in_the_product_layout(name: str) -> None:
    response = Client().get(reverse(name))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'class="brand"' in body and "css/app.css" in body


def test_it_asks_before_signing_out_and_signs_out_by_post(customer: Any) -> None:
    client = client_for(customer)
    assert (
        "Are you sure you want to sign out?"
        in client.get(reverse("account_logout")).content.decode()
    )
    client.post(reverse("account_logout"))
    assert client.get(reverse("portal:tickets")).status_code == 302

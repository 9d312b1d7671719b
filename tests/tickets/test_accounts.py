"""A portal login reaches a contact's tickets only through a verified email."""

from __future__ import annotations

from typing import Any

import pytest
from allauth.account.models import EmailAddress
from allauth.account.signals import email_confirmed

from tests.factories import ContactFactory, UserFactory, make_ticket
from tickets.access import visible_tickets
from tickets.models import Contact


@pytest.mark.django_db
def test_it_links_a_login_to_the_contact_once_its_email_is_confirmed() -> None:
    contact = ContactFactory(name="Pat", email="pat@customer.test")
    ticket = make_ticket(contact=contact)
    user = UserFactory(username="pat", email="pat@customer.test", verified_email=False)
    assert not visible_tickets(user).exists()  # signed up, not verified: nothing

    address = EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    email_confirmed.send(sender=EmailAddress, request=None, email_address=address)

    contact.refresh_from_db()
    assert contact.user_id == user.pk
    assert list(visible_tickets(user)) == [ticket]


@pytest.mark.django_db
def test_it_gives_a_new_customer_a_contact_of_their_own() -> None:
    user = UserFactory(username="new", email="New@Customer.test", verified_email=False)
    address = EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    email_confirmed.send(sender=EmailAddress, request=None, email_address=address)
    contact = Contact.objects.get(user=user)
    assert contact.identities.get().value == "new@customer.test"


@pytest.mark.django_db
def test_an_agent_confirming_an_email_gets_no_contact(agent: Any) -> None:
    address = EmailAddress.objects.get(user=agent)
    email_confirmed.send(sender=EmailAddress, request=None, email_address=address)
    assert not Contact.objects.filter(user=agent).exists()

"""One person, one contact: identities are normalised and unique, and contacts merge whole."""

from __future__ import annotations

from typing import Any

import pytest

from tests.channels_in.chat_support import FAST_HASHERS
from tests.factories import ContactFactory, make_ticket
from tickets import services
from tickets.identities import InvalidIdentity, normalise
from tickets.models import Contact, Identity, Message, Ticket, TicketEvent
from tickets.types import IncomingMessage


@pytest.fixture(autouse=True)
def fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = FAST_HASHERS


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        ("email", "Pat.Doe@Example.COM", "pat.doe@example.com"),
        ("email", "Pat Doe <PAT@example.com>", "pat@example.com"),
        ("phone", "+44 20 7183 8750", "+442071838750"),
        ("phone", "(415) 555-0123", "+14155550123"),
        ("phone", "tel:+1-415-555-0123", "+14155550123"),
        ("whatsapp", "16315551234", "+16315551234"),  # a wa_id: country code, no plus
        ("whatsapp", "whatsapp:+16315551234", "+16315551234"),
        ("telegram", " 1111111 ", "1111111"),
        ("messenger", "ig:17841400000000000", "ig:17841400000000000"),
    ],
)
def test_it_normalises_identities(kind: str, raw: str, expected: str) -> None:
    assert normalise(kind, raw) == expected


@pytest.mark.parametrize(
    ("kind", "raw"),
    [
        ("email", "not an address"),
        ("phone", "call me"),
        ("phone", "12"),
        ("chat", "  "),
    ],
)
def test_it_refuses_what_is_not_an_identity(kind: str, raw: str) -> None:
    with pytest.raises(InvalidIdentity):
        normalise(kind, raw)


@pytest.mark.django_db
def test_one_value_belongs_to_one_contact() -> None:
    first = services.contact_resolve(kind="phone", value="(415) 555-0123")
    assert services.contact_resolve(kind="phone", value="+1 415 555 0123").pk == first.pk
    other = ContactFactory()
    with pytest.raises(services.ServiceError):
        services.identity_add(contact=other, kind="phone", value="415-555-0123")
    assert Identity.objects.filter(kind="phone").count() == 1


@pytest.mark.django_db
def test_a_whatsapp_number_finds_the_contact_with_that_phone() -> None:
    known = ContactFactory(name="Kerry")
    services.identity_add(contact=known, kind="phone", value="+1 631 555 1234")
    result = services.message_ingest(
        incoming=IncomingMessage(
            channel="whatsapp",
            identity_kind="whatsapp",
            identity_value="16315551234",
            text="hello from WhatsApp",
            continue_open_ticket=True,
        )
    )
    ticket = Ticket.objects.get(pk=result.ticket_id)
    assert ticket.contact_id == known.pk
    assert set(known.identities.values_list("kind", "value")) >= {
        ("phone", "+16315551234"),
        ("whatsapp", "+16315551234"),
    }


@pytest.mark.django_db
def test_merging_contacts_moves_identities_tickets_and_history(
    agent: Any, supervisor: Any, support: Any
) -> None:
    keep = ContactFactory(name="Pat Doe", email="pat@example.com")
    dupe = ContactFactory(name="", email="pat.doe@work.test")
    services.identity_add(contact=dupe, kind="phone", value="+14155550123")
    kept_ticket = make_ticket(contact=keep, group=support)
    moved_ticket = make_ticket(contact=dupe, group=support, subject="From work")
    with pytest.raises(services.ServiceError, match="supervisors and admins"):
        services.contact_merge(source=dupe, target=keep, actor=agent)  # beyond one team
    services.contact_merge(source=dupe, target=keep, actor=supervisor)

    dupe.refresh_from_db()
    assert dupe.merged_into_id == keep.pk
    assert set(keep.identities.values_list("value", flat=True)) == {
        "pat@example.com",
        "pat.doe@work.test",
        "+14155550123",
    }
    assert set(Ticket.objects.filter(contact=keep)) == {kept_ticket, moved_ticket}
    assert Message.objects.filter(author_contact=dupe).count() == 0
    event = TicketEvent.objects.get(ticket=moved_ticket, kind=TicketEvent.Kind.CONTACT)
    assert event.payload == {"old": dupe.pk, "new": keep.pk, "reason": "contacts merged"}
    assert event.actor == supervisor and event.actor_kind == "agent"
    # whatever the merged contact writes from next lands with the one that was kept
    assert services.contact_resolve(kind="phone", value="415 555 0123").pk == keep.pk
    assert Contact.objects.filter(merged_into__isnull=True).count() == 1

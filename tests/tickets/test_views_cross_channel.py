"""One customer, many channels, in the desk: answering on another channel the contact owns,
logged calls in the thread, the contact's page with its cross-channel timeline, and merging."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from channels_in.models import OutboundDelivery
from tests.conftest import client_for
from tests.factories import ContactFactory, OrganisationFactory, make_ticket
from tickets import selectors, services
from tickets.models import Channel, Contact, Group, Identity, Message, Ticket, TicketEvent

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
# The contact page's real count: session, user, roles, the gate (contact, teams, one of its
# tickets), the timeline's count, the contact with its ticket count, identities, the page of
# messages. It must not grow with the messages.
CONTACT_QUERIES = 10


@pytest.fixture
def pat(db: Any) -> Contact:
    """A customer who writes from everywhere: email, a mobile on WhatsApp, Telegram."""
    contact = ContactFactory(name="Pat Many", email="pat@customer.test")
    services.identity_add(contact=contact, kind=Identity.Kind.WHATSAPP, value="+12025550143")
    services.identity_add(contact=contact, kind=Identity.Kind.TELEGRAM, value="777001")
    return contact


@pytest.fixture
def email_ticket(pat: Contact, support: Group) -> Ticket:
    return make_ticket(contact=pat, group=support, subject="Order 1234 never arrived")


def ticket_url(ticket: Ticket) -> str:
    return reverse("desk:ticket", kwargs={"number": ticket.number})


def reply_url(ticket: Ticket) -> str:
    return reverse("desk:reply", kwargs={"number": ticket.number})


def contact_url(contact: Contact) -> str:
    return reverse("desk:contact", kwargs={"contact_id": contact.pk})


def flash_text(client: Client) -> str:
    """What the next page shows in its flash region."""
    return client.get(reverse("desk:queue")).content.decode()


# --- which channels a reply may leave by -------------------------------------------------------


def test_it_offers_every_channel_the_contacts_identities_reach_with_the_tickets_first(
    email_ticket: Ticket, pat: Contact
) -> None:
    channels = selectors.reply_channels(email_ticket)

    assert [value for value, _ in channels] == ["email", "telegram", "whatsapp", "sms"]
    labels = dict(channels)
    assert labels["email"] == "Email · pat@customer.test"
    # a WhatsApp number takes texts too (and the SMS edge notes it carries no files)
    assert labels["sms"] == "SMS · +12025550143 — text only: a reply with files is not sent"


def test_it_answers_a_phone_ticket_by_sms_never_by_phone(support: Group) -> None:
    caller = ContactFactory(name="Caller", email="caller@customer.test")
    services.identity_add(contact=caller, kind=Identity.Kind.PHONE, value="+12025550188")
    ticket = make_ticket(contact=caller, group=support, channel=Channel.PHONE)

    assert [value for value, _ in selectors.reply_channels(ticket)] == ["sms", "email"]


def test_it_keeps_the_portal_channel_first_for_a_web_ticket(pat: Contact, support: Group) -> None:
    ticket = make_ticket(contact=pat, group=support, channel=Channel.WEB)

    values = [value for value, _ in selectors.reply_channels(ticket)]

    assert values[0] == "web"
    assert "phone" not in values


def test_it_shows_send_by_log_a_call_and_timeline_links_on_the_ticket(
    agent_client: Client, email_ticket: Ticket, pat: Contact
) -> None:
    body = agent_client.get(ticket_url(email_ticket)).content.decode()

    select = re.search(r'<select id="reply-channel" name="channel".*?</select>', body, re.S)
    assert select is not None
    options = re.findall(r'<option value="(\w+)"( selected)?[^>]*>', select.group(0))
    assert options == [("email", " selected"), ("telegram", ""), ("whatsapp", ""), ("sms", "")]
    assert "Send by" in body
    call_log = reverse("channels_in:voice-call-log", kwargs={"number": email_ticket.number})
    assert f'href="{call_log}"' in body
    assert f'href="{contact_url(pat)}"' in body and "View timeline" in body


def test_it_sends_a_reply_by_the_channel_the_agent_chose(
    agent_client: Client, agent: Any, email_ticket: Ticket
) -> None:
    response = agent_client.post(
        reply_url(email_ticket), {"text": "Texting you the tracking link.", "channel": "sms"}
    )

    assert response.status_code == 302
    reply = email_ticket.messages.get(kind=Message.Kind.REPLY)
    assert reply.channel == Channel.SMS
    delivery = OutboundDelivery.objects.get(message=reply)
    assert (delivery.channel, delivery.recipient) == ("sms", "+12025550143")
    email_ticket.refresh_from_db()
    assert email_ticket.channel == Channel.EMAIL  # the ticket stays what it was


def test_it_replies_by_the_tickets_channel_when_none_is_chosen(
    agent_client: Client, email_ticket: Ticket
) -> None:
    agent_client.post(reply_url(email_ticket), {"text": "By email, as you wrote."}, **HTMX)

    assert email_ticket.messages.get(kind=Message.Kind.REPLY).channel == Channel.EMAIL


@pytest.mark.parametrize("channel", ["messenger", "phone", "carrier-pigeon"])
def test_it_refuses_a_reply_by_a_channel_the_contact_cannot_be_reached_on(
    agent_client: Client, email_ticket: Ticket, channel: str
) -> None:
    response = agent_client.post(
        reply_url(email_ticket), {"text": "Hello?", "channel": channel}, **HTMX
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert f"The customer cannot be reached by {channel}" in body
    assert 'class="flash flash-error"' in body
    assert not email_ticket.messages.filter(kind=Message.Kind.REPLY).exists()
    assert not OutboundDelivery.objects.exists()


def test_it_threads_the_customers_answer_on_the_new_channel_back_to_the_ticket(
    agent_client: Client, email_ticket: Ticket
) -> None:
    from tickets.types import IncomingMessage

    agent_client.post(reply_url(email_ticket), {"text": "Reply here by SMS.", "channel": "sms"})
    result = services.message_ingest(
        incoming=IncomingMessage(
            channel=Channel.SMS,
            identity_kind=Identity.Kind.PHONE,
            identity_value="+12025550143",
            text="Got it, thanks!",
            continue_open_ticket=True,
        )
    )

    assert result.ticket_number == email_ticket.number
    body = agent_client.get(ticket_url(email_ticket)).content.decode()
    assert "Got it, thanks!" in body and "via SMS" in body


# --- logged calls ------------------------------------------------------------------------------


def test_it_shows_a_logged_call_with_its_heading_and_notes(
    agent_client: Client, agent: Any, email_ticket: Ticket
) -> None:
    services.call_log(
        ticket=email_ticket,
        agent=agent,
        direction="outbound",
        duration_seconds=240,
        notes="Promised a refund by Friday.",
    )
    services.call_log(
        ticket=email_ticket, agent=agent, direction="inbound", duration_seconds=75, notes=""
    )

    body = agent_client.get(ticket_url(email_ticket)).content.decode()

    assert "📞 Outbound call, 4 min<" in body
    assert "📞 Inbound call, 1 min 15 s<" in body
    assert "Promised a refund by Friday." in body
    assert "Call to the customer, 4 min 0 s." not in body  # the heading replaces the stored line


# --- the contact page --------------------------------------------------------------------------


def test_it_shows_the_contact_with_identities_and_the_whole_cross_channel_timeline(
    agent_client: Client, agent: Any, pat: Contact, support: Group
) -> None:
    pat.organisation = OrganisationFactory(name="Acme Ltd")
    pat.save(update_fields=["organisation"])
    first = make_ticket(contact=pat, group=support, subject="Email first", text="By mail.")
    chat = make_ticket(
        contact=pat, group=support, subject="Then chat", text="Now in chat.", channel=Channel.CHAT
    )
    services.ticket_reply(
        ticket=first, author=agent, text="Answered by WhatsApp.", channel="whatsapp"
    )
    services.call_log(
        ticket=chat, agent=agent, direction="outbound", duration_seconds=120, notes="Called back."
    )

    response = agent_client.get(contact_url(pat))

    assert response.status_code == 200
    body = response.content.decode()
    assert "Pat Many" in body and "Acme Ltd" in body
    for value in ("pat@customer.test", "+12025550143", "777001"):
        assert value in body
    # newest first, with channel, ticket link, kind and snippet
    order = [
        body.index(s) for s in ("Called back.", "Answered by WhatsApp.", "Now in chat.", "By mail.")
    ]
    assert order == sorted(order)
    assert f'href="{ticket_url(chat)}#message-' in body
    assert "channel-whatsapp" in body and "channel-chat" in body and "channel-email" in body
    assert "📞 Outbound call, 2 min" in body
    assert "Agent reply" in body and "Customer message" in body and "Internal note" in body


def test_it_shows_only_messages_of_tickets_the_agent_may_see(
    agent_client: Client, supervisor: Any, pat: Contact, support: Group, billing: Group
) -> None:
    make_ticket(contact=pat, group=support, text="About my parcel.")
    make_ticket(contact=pat, group=billing, text="About my invoice, secret.")

    body = agent_client.get(contact_url(pat)).content.decode()
    assert "About my parcel." in body
    assert "About my invoice, secret." not in body

    everything = client_for(supervisor).get(contact_url(pat)).content.decode()
    assert "About my invoice, secret." in everything


def test_it_pages_the_timeline_fifty_at_a_time(
    agent_client: Client, agent: Any, pat: Contact, support: Group
) -> None:
    ticket = make_ticket(contact=pat, group=support, text="Message zero.")
    start = timezone.now() - timedelta(days=1)
    Message.objects.bulk_create(
        Message(
            ticket=ticket,
            kind=Message.Kind.CUSTOMER,
            channel=Channel.EMAIL,
            author_contact=pat,
            text=f"Numbered message {n:02d}.",
            created_at=start + timedelta(minutes=n),
        )
        for n in range(1, 60)
    )

    first = agent_client.get(contact_url(pat)).content.decode()
    second = agent_client.get(contact_url(pat), {"page": 2}).content.decode()

    assert first.count('class="tl-item') == 50
    # the ticket's first message is the newest (made now), then 59 down to 11
    assert "Message zero." in first and "Numbered message 11." in first
    assert "Numbered message 10." not in first
    assert second.count('class="tl-item') == 10
    assert "Numbered message 10." in second and "Numbered message 01." in second
    assert "Page 2 of 2" in second


def test_it_renders_the_contact_page_in_a_flat_number_of_queries(
    agent: Any, pat: Contact, support: Group, django_assert_max_num_queries: Any
) -> None:
    client = client_for(agent)
    ticket = make_ticket(contact=pat, group=support)
    with django_assert_max_num_queries(CONTACT_QUERIES):
        assert client.get(contact_url(pat)).status_code == 200

    for n in range(12):
        other = make_ticket(contact=pat, group=support, channel=Channel.TELEGRAM, text=f"t{n}")
        services.ticket_reply(ticket=other, author=agent, text=f"r{n}", channel="whatsapp")
        services.call_log(
            ticket=ticket, agent=agent, direction="inbound", duration_seconds=n, notes=f"c{n}"
        )
    assert Message.objects.filter(ticket__contact=pat).count() > 36
    with django_assert_max_num_queries(CONTACT_QUERIES):
        assert client.get(contact_url(pat)).status_code == 200


def test_it_hides_the_contact_from_outsiders(
    pat: Contact,
    support: Group,
    other_agent: Any,
    customer: Any,
    customer_contact: Contact,
    outsider: Any,
) -> None:
    make_ticket(contact=pat, group=support)
    make_ticket(contact=customer_contact, group=support)

    # an agent of Billing: pat only has Support tickets
    assert client_for(other_agent).get(contact_url(pat)).status_code == 404
    # a customer, even on their own contact page, and a stranger
    assert client_for(customer).get(contact_url(customer_contact)).status_code == 403
    assert client_for(customer).get(contact_url(pat)).status_code == 403
    assert client_for(outsider).get(contact_url(pat)).status_code == 403
    anonymous = Client().get(contact_url(pat))
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    # and every action under it
    for name in ("desk:contact_identity_add", "desk:contact_merge"):
        url = reverse(name, kwargs={"contact_id": pat.pk})
        assert (
            client_for(other_agent).post(url, {"kind": "email", "value": "x@y.test"}).status_code
            == 404
        )
    search = reverse("desk:contact_merge_search", kwargs={"contact_id": pat.pk})
    assert client_for(other_agent).get(search, {"q": "pat"}).status_code == 404
    assert not Identity.objects.filter(value="x@y.test").exists()


def test_it_adds_an_identity_and_shows_why_one_is_refused(
    agent_client: Client, pat: Contact, email_ticket: Ticket
) -> None:
    ContactFactory(name="Someone Else", email="taken@else.test")
    url = reverse("desk:contact_identity_add", kwargs={"contact_id": pat.pk})

    added = agent_client.post(url, {"kind": "email", "value": "Pat.Work@Example.TEST"}, follow=True)
    assert "Added Email pat.work@example.test." in added.content.decode()
    assert pat.identities.filter(kind="email", value="pat.work@example.test").exists()

    taken = agent_client.post(url, {"kind": "email", "value": "taken@else.test"}, follow=True)
    assert "email taken@else.test already belongs to another contact." in taken.content.decode()
    invalid = agent_client.post(url, {"kind": "phone", "value": "call me"}, follow=True)
    assert "not a phone number" in invalid.content.decode()
    assert pat.identities.count() == 4


# --- merging contacts --------------------------------------------------------------------------


@pytest.fixture
def duplicate(support: Group) -> Contact:
    """The same person, who once wrote from home and was taken for someone new."""
    contact = ContactFactory(name="P. Many", email="pat.private@home.test")
    services.identity_add(contact=contact, kind=Identity.Kind.PHONE, value="+12025550199")
    make_ticket(contact=contact, group=support, subject="From home")
    return contact


def search_url(contact: Contact) -> str:
    return reverse("desk:contact_merge_search", kwargs={"contact_id": contact.pk})


def merge_url(contact: Contact) -> str:
    return reverse("desk:contact_merge", kwargs={"contact_id": contact.pk})


def test_it_searches_merge_candidates_by_name_email_or_phone_within_what_the_agent_sees(
    agent_client: Client,
    supervisor: Any,
    pat: Contact,
    email_ticket: Ticket,
    duplicate: Contact,
    billing: Group,
) -> None:
    hidden = ContactFactory(name="Pat Billing", email="pat@billing.test")
    make_ticket(contact=hidden, group=billing)

    by_name = agent_client.get(search_url(pat), {"q": "pat"}, **HTMX)
    body = by_name.content.decode()
    assert "<!doctype html>" not in body and 'id="merge-results"' in body
    assert "P. Many" in body
    assert "Pat Billing" not in body  # only Billing's tickets: not for a Support agent
    assert f"?source={pat.pk}" not in body  # never the contact itself
    for q in ("pat.private@home", "(202) 555-0199"):
        found = agent_client.get(search_url(pat), {"q": q}, **HTMX).content.decode()
        assert f"{merge_url(pat)}?source={duplicate.pk}" in found
    nothing = agent_client.get(search_url(pat), {"q": "zzz"}, **HTMX).content.decode()
    assert "No contact you can see matches" in nothing

    as_supervisor = client_for(supervisor).get(search_url(pat), {"q": "pat"}, **HTMX)
    assert "Pat Billing" in as_supervisor.content.decode()
    # without JS the search answers with the whole contact page, results open
    page = agent_client.get(search_url(pat), {"q": "home"}).content.decode()
    assert "<!doctype html>" in page and f"?source={duplicate.pk}" in page


def test_it_confirms_a_merge_showing_both_contacts_then_merges_for_a_supervisor(
    supervisor: Any, pat: Contact, email_ticket: Ticket, duplicate: Contact
) -> None:
    client = client_for(supervisor)

    confirm = client.get(merge_url(pat), {"source": duplicate.pk})
    assert confirm.status_code == 200
    body = confirm.content.decode()
    for value in ("pat@customer.test", "+12025550143", "pat.private@home.test", "+12025550199"):
        assert value in body
    assert body.count("<strong>1</strong> ticket<") == 2
    assert re.search(r'<button type="submit" class="btn btn-danger">Merge P\. Many', body)

    response = client.post(merge_url(pat), {"source": duplicate.pk}, follow=True)

    assert response.redirect_chain[-1][0] == contact_url(pat)
    assert "P. Many was merged into Pat Many." in response.content.decode()
    duplicate.refresh_from_db()
    assert duplicate.merged_into_id == pat.pk
    assert pat.identities.filter(value="pat.private@home.test").exists()
    moved = Ticket.objects.get(subject="From home")
    assert moved.contact_id == pat.pk
    assert moved.events.filter(kind=TicketEvent.Kind.CONTACT, actor=supervisor).exists()
    assert "From home" in response.content.decode()  # its messages join the timeline
    # the old contact's page now leads to the one it was merged into
    assert client.get(contact_url(duplicate)).url == contact_url(pat)


def test_it_shows_agents_a_disabled_merge_and_refuses_their_post(
    agent_client: Client, pat: Contact, email_ticket: Ticket, duplicate: Contact
) -> None:
    page = agent_client.get(contact_url(pat)).content.decode()
    assert "Only supervisors and admins can merge contacts" in page

    confirm = agent_client.get(merge_url(pat), {"source": duplicate.pk}).content.decode()
    assert re.search(r'<button type="submit" class="btn btn-danger" disabled', confirm)
    assert "Only supervisors and admins can merge contacts" in confirm

    refused = agent_client.post(merge_url(pat), {"source": duplicate.pk})
    assert refused.status_code == 403
    duplicate.refresh_from_db()
    assert duplicate.merged_into_id is None
    assert Ticket.objects.get(subject="From home").contact_id == duplicate.pk


def test_it_refuses_to_merge_a_contact_the_user_cannot_see_or_itself(
    supervisor: Any, admin_user: Any, pat: Contact, email_ticket: Ticket
) -> None:
    client = client_for(admin_user)
    assert client.get(merge_url(pat), {"source": 999_999}).status_code == 404
    assert client.post(merge_url(pat), {"source": "nope"}).status_code == 404
    itself = client.post(merge_url(pat), {"source": pat.pk}, follow=True)
    assert "A contact cannot be merged into itself." in itself.content.decode()
    pat.refresh_from_db()
    assert pat.merged_into_id is None


def test_known_since_is_the_first_ticket_not_the_contact_row(agent: Any, support: Group) -> None:
    contact = ContactFactory(name="Old Timer", email="old@customer.test")
    first = make_ticket(contact=contact, group=support)
    Ticket.objects.filter(pk=first.pk).update(created_at=timezone.now() - timedelta(days=800))
    page = client_for(agent).get(contact_url(contact)).content.decode()
    since = (timezone.now() - timedelta(days=800)).strftime("%b %-d, %Y")
    assert f">{since}</time>" in page


def test_a_chat_identity_shows_as_the_widget_not_as_its_raw_token(
    agent: Any, support: Group
) -> None:
    contact = ContactFactory(name="Vera")
    services.identity_add(contact=contact, kind=Identity.Kind.CHAT, value="v-" + "x" * 30)
    ticket = make_ticket(contact=contact, group=support, channel=Channel.CHAT)
    client = client_for(agent)
    for url in (ticket_url(ticket), contact_url(contact)):
        page = client.get(url).content.decode()
        assert "x" * 30 not in page and "web widget" in page


def test_the_send_by_warning_shows_in_full_beside_the_menu(
    agent_client: Client, email_ticket: Ticket
) -> None:
    body = agent_client.get(ticket_url(email_ticket)).content.decode()
    option = re.search(r'<option value="whatsapp"[^>]*data-note="([^"]+)"', body)
    assert option is not None and "24" in option.group(1)
    # the default (email) has nothing to warn about: the note box is there, empty and hidden
    assert re.search(r'<p id="reply-channel-note"[^>]*hidden></p>', body)

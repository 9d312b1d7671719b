"""Live chat's rules, through its services: sessions, threading, email follow-up, agents."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from channels_in.chat import services as chat
from channels_in.config import ConfigError, load_config
from channels_in.models import (
    ChannelAccount,
    ChatConversation,
    ChatLine,
    InboundMessage,
    OutboundDelivery,
)
from channels_in.services import delivery_send
from tests.channels_in.chat_support import (
    FAST_HASHERS,
    clear_presence,
    go_online,
    make_chat_account,
    say,
    start,
)
from tests.factories import ContactFactory, make_ticket
from tickets.models import Channel, Contact, Identity, Message, Ticket

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = FAST_HASHERS


@pytest.fixture(autouse=True)
def no_one_online() -> Iterator[None]:
    clear_presence()
    yield
    clear_presence()


@pytest.fixture
def account(support: Any) -> ChannelAccount:
    return make_chat_account(group=support)


def test_it_threads_a_live_chat_into_one_chat_ticket_with_numbered_lines(
    account: ChannelAccount, agent: Any
) -> None:
    go_online(agent)
    session = start(account)
    first = say(account, session.conversation, "Hi, my invoice is wrong", "c1")
    second = say(account, session.conversation, "It says 12 seats, we have 10", "c2")
    conversation = ChatConversation.objects.get(pk=session.conversation.pk)
    assert conversation.status == ChatConversation.Status.WAITING
    ticket = Ticket.objects.get(pk=conversation.ticket_id)
    assert ticket.channel == Channel.CHAT and ticket.group == account.group
    assert ticket.subject == "Hi, my invoice is wrong"
    assert [first.line.seq, second.line.seq] == [1, 2]
    assert list(ticket.messages.values_list("text", flat=True)) == [
        "Hi, my invoice is wrong",
        "It says 12 seats, we have 10",
    ]
    visitor = ticket.contact.identities.get()
    assert (visitor.kind, visitor.value) == (Identity.Kind.CHAT, session.visitor_id)
    assert InboundMessage.objects.filter(account=account).count() == 2  # raw kept, one per frame


def test_it_takes_a_resent_frame_once(account: ChannelAccount, agent: Any) -> None:
    go_online(agent)
    session = start(account)
    once = say(account, session.conversation, "hello", "same-id")
    again = say(account, session.conversation, "hello", "same-id")
    assert once.line.pk == again.line.pk
    assert Message.objects.count() == 1 and ChatLine.objects.count() == 1


def test_it_recognises_a_returning_visitor_by_token(account: ChannelAccount, agent: Any) -> None:
    go_online(agent)
    first = start(account, name="Vera")
    say(account, first.conversation, "one")
    again = start(account, token=first.token, name="")
    assert again.visitor_id == first.visitor_id
    assert again.conversation.pk == first.conversation.pk
    forged = start(account, token=first.token[:-2] + "xx")
    assert forged.visitor_id != first.visitor_id  # a bad signature is a new visitor


def test_a_token_of_one_account_is_not_valid_on_another(account: ChannelAccount) -> None:
    other = make_chat_account(name="other")
    first = start(account)
    assert start(other, token=first.token).visitor_id != first.visitor_id


def test_it_requires_an_email_when_nobody_is_online(account: ChannelAccount, agent: Any) -> None:
    session = start(account)
    with pytest.raises(chat.EmailRequired):
        say(account, session.conversation, "anyone there?")
    assert Ticket.objects.count() == 0


def test_an_offline_message_becomes_an_email_followed_ticket(
    account: ChannelAccount, agent: Any, django_capture_on_commit_callbacks: Any
) -> None:
    session = start(account, email="Pat@Customer.test")
    say(account, session.conversation, "Please call me back about my order")
    conversation = ChatConversation.objects.get(pk=session.conversation.pk)
    assert conversation.status == ChatConversation.Status.OFFLINE
    ticket = Ticket.objects.get(pk=conversation.ticket_id)
    assert ticket.channel == Channel.EMAIL
    assert ticket.messages.get().metadata["chat"]["offline"] is True
    from tickets import services

    reply = services.ticket_reply(ticket=ticket, author=agent, text="We will call at 3pm.")
    delivery = OutboundDelivery.objects.get(message=reply)
    assert (delivery.channel, delivery.recipient) == ("email", "pat@customer.test")


def test_it_is_offline_outside_opening_hours_even_with_agents_online(
    support: Any, agent: Any
) -> None:
    account = make_chat_account(
        group=support,
        timezone="Europe/Berlin",
        holidays=["2026-12-25"],
        hours=[{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}],
    )
    go_online(agent)
    config = load_config(account)
    monday_noon = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)  # 12:00 in Berlin
    saturday = datetime(2026, 11, 28, 11, 0, tzinfo=UTC)
    christmas = datetime(2026, 12, 25, 11, 0, tzinfo=UTC)
    assert chat.chat_availability(account=account, config=config, at=monday_noon).online
    assert chat.chat_availability(account=account, config=config, at=saturday).reason == "closed"
    assert not chat.chat_availability(account=account, config=config, at=christmas).online


def test_only_agents_who_may_answer_count_as_online(
    account: ChannelAccount, other_agent: Any, supervisor: Any
) -> None:
    config = load_config(account)
    go_online(other_agent)  # Billing: cannot take Support's chats
    assert chat.chat_availability(account=account, config=config).reason == "no_agents"
    go_online(supervisor)
    assert chat.chat_availability(account=account, config=config).online


def test_a_visitor_giving_a_known_email_joins_that_contact_and_open_ticket(
    account: ChannelAccount, agent: Any
) -> None:
    known = ContactFactory(name="Pat Known", email="pat@customer.test")
    open_ticket = make_ticket(contact=known, subject="Order 1234")
    go_online(agent)
    session = start(account, name="Pat", email="pat@customer.test")
    say(account, session.conversation, "Any news on my order?")
    conversation = ChatConversation.objects.get(pk=session.conversation.pk)
    assert conversation.ticket_id == open_ticket.pk  # joined the history, not a new thread
    assert conversation.contact_id == known.pk
    assert Identity.objects.get(kind=Identity.Kind.CHAT).contact_id == known.pk
    visitor_contact = Contact.objects.exclude(pk=known.pk).get()
    assert visitor_contact.merged_into_id == known.pk


def test_a_known_contact_is_never_merged_into_another_on_their_word(
    account: ChannelAccount, agent: Any
) -> None:
    go_online(agent)
    first = start(account, email="me@mine.test")
    say(account, first.conversation, "first chat")
    victim = ContactFactory(name="Victim", email="victim@else.test")
    chat.chat_end(conversation=first.conversation, actor=agent)
    again = start(account, token=first.token, email="victim@else.test")
    say(account, again.conversation, "now I claim to be the victim")
    conversation = ChatConversation.objects.get(pk=again.conversation.pk)
    assert conversation.contact_id != victim.pk
    assert "belongs to another contact" in conversation.email_note
    assert not Ticket.objects.filter(contact=victim).exists()


def test_agents_accept_reply_transfer_and_end(
    account: ChannelAccount,
    agent: Any,
    other_agent: Any,
    billing: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    go_online(agent)
    session = start(account)
    say(account, session.conversation, "help")
    conversation = ChatConversation.objects.get(pk=session.conversation.pk)
    chat.chat_accept(conversation=conversation, agent=agent)
    conversation.refresh_from_db()
    assert (conversation.status, conversation.agent_id) == ("active", agent.pk)
    assert Ticket.objects.get(pk=conversation.ticket_id).assignee_id == agent.pk

    line = chat.chat_agent_reply(conversation=conversation, agent=agent, text="Hello! Looking.")
    assert line is not None and line.kind == ChatLine.Kind.AGENT
    delivery = OutboundDelivery.objects.get(message=line.message)
    assert delivery.status == OutboundDelivery.Status.SENT
    assert delivery.provider_id == f"chat:{conversation.pk}:{line.seq}"
    delivery_send(delivery_id=delivery.pk)  # the queued worker task: nothing sent twice
    assert ChatLine.objects.filter(message=line.message).count() == 1
    assert chat.visitor_seen(conversation=conversation, seq=line.seq) == 1
    assert OutboundDelivery.objects.get(pk=delivery.pk).status == OutboundDelivery.Status.READ

    chat.chat_transfer(conversation=conversation, actor=agent, group=billing)
    conversation.refresh_from_db()
    ticket = Ticket.objects.get(pk=conversation.ticket_id)
    assert (conversation.status, ticket.group_id, ticket.assignee_id) == (
        "waiting",
        billing.pk,
        None,
    )
    chat.chat_transfer(conversation=conversation, actor=agent, agent=other_agent)
    conversation.refresh_from_db()
    assert conversation.agent_id == other_agent.pk
    with pytest.raises(chat.ServiceError):
        chat.chat_accept(conversation=conversation, agent=agent)  # someone else has it

    chat.chat_end(conversation=conversation, actor=other_agent)
    conversation.refresh_from_db()
    assert conversation.status == ChatConversation.Status.ENDED
    assert Ticket.objects.get(pk=conversation.ticket_id).status == Ticket.Status.SOLVED
    notices = list(conversation.lines.filter(kind="system").values_list("text", flat=True))
    assert notices[0].endswith("joined the chat.") and notices[-1] == "The chat has ended."
    seqs = list(conversation.lines.values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))  # no gap, no double


def test_a_message_after_the_end_starts_a_new_conversation(
    account: ChannelAccount, agent: Any
) -> None:
    go_online(agent)
    session = start(account)
    say(account, session.conversation, "first")
    chat.chat_end(conversation=session.conversation, actor=agent)
    posted = say(account, ChatConversation.objects.get(pk=session.conversation.pk), "back again")
    assert posted.new_conversation and posted.conversation.pk != session.conversation.pk
    assert posted.line.seq == 1
    assert posted.conversation.ticket_id != session.conversation.ticket_id


def test_a_chat_reply_with_no_conversation_fails_visibly(
    agent: Any, account: ChannelAccount
) -> None:
    from tickets import services

    contact = ContactFactory()
    Identity.objects.create(contact=contact, kind=Identity.Kind.CHAT, value="v_nobody")
    ticket = make_ticket(contact=contact, channel=Channel.CHAT)
    reply = services.ticket_reply(ticket=ticket, author=agent, text="hello?")
    delivery = OutboundDelivery.objects.get(message=reply)
    delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == OutboundDelivery.Status.FAILED
    assert "no live chat" in delivery.error


def test_it_refuses_a_misconfigured_chat_account() -> None:
    bad = ChannelAccount(kind="chat", name="bad", config={"allowed_origin": ["x"]})
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(bad)
    bad.config = {"allowed_origins": ["shop.example.test"]}
    with pytest.raises(ConfigError, match="scheme://host"):
        load_config(bad)
    bad.config = {"hours": [{"days": ["mon"], "start": "18:00", "end": "09:00"}]}
    with pytest.raises(ConfigError, match="ends before it starts"):
        load_config(bad)
    bad.config = {"rate_limit_messages": "20"}
    with pytest.raises(ConfigError, match="whole number"):
        load_config(bad)


def test_it_calls_a_nameless_visitor_by_their_page_never_by_their_token(
    account: ChannelAccount, agent: Any
) -> None:
    go_online(agent)
    session = start(account, name="")
    say(account, session.conversation, "Do you ship to Norway?", "n1")
    ticket = Ticket.objects.get(
        pk=ChatConversation.objects.get(pk=session.conversation.pk).ticket_id
    )
    assert ticket.contact.name == "Visitor from shop.example.test/pricing"
    assert session.visitor_id not in ticket.contact.display_name

    # told their name later, the page label gives way to it
    again = start(account, name="Nora North", token=session.token)
    say(account, again.conversation, "It is for Oslo", "n2")
    ticket.contact.refresh_from_db()
    assert ticket.contact.name == "Nora North"


def test_visitor_label_falls_back_to_a_plain_word_without_a_page() -> None:
    assert chat.visitor_label(name="  Ann  ", page_url="https://x.test/a") == "Ann"
    assert chat.visitor_label(name="", page_url="") == "Chat visitor"
    long = chat.visitor_label(name="", page_url="https://x.test/" + "p" * 200)
    assert long.startswith("Visitor from x.test/") and len(long) < 100

"""Helpers shared by the live chat tests (not fixtures: each test module declares its own)."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from channels_in.chat import presence
from channels_in.chat import services as chat
from channels_in.config import load_config
from channels_in.models import ChannelAccount, ChannelKind, ChatConversation

SITE = "https://shop.example.test"
# The personas' passwords are hashed on creation; the default hasher costs ~0.5 s per user.
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def make_chat_account(*, group: Any = None, name: str = "web", **config: Any) -> ChannelAccount:
    config.setdefault("allowed_origins", [SITE])
    return ChannelAccount.objects.create(
        kind=ChannelKind.CHAT, name=name, group=group, config=config
    )


def ensure_roles() -> None:
    """Transactional tests flush every table, the roles a data migration made included."""
    from django.contrib.auth.models import Group as AuthGroup

    from tickets.roles import Role

    for role in Role:
        AuthGroup.objects.get_or_create(name=role.value)


def clear_presence() -> None:
    presence._client(settings.REDIS_URL).delete(presence._key())


def go_online(user: Any, socket: str = "test-socket") -> None:
    presence.agent_heartbeat(user_id=user.pk, socket=socket)


def start(
    account: ChannelAccount, *, name: str = "Vera Visitor", email: str = "", token: str = ""
) -> chat.Session:
    return chat.visitor_session_start(
        account=account, token=token, name=name, email=email, page_url=f"{SITE}/pricing"
    )


def say(
    account: ChannelAccount, conversation: ChatConversation, text: str, client_id: str = ""
) -> chat.Posted:
    conversation = ChatConversation.objects.select_related("account").get(pk=conversation.pk)
    return chat.visitor_message_post(
        conversation=conversation,
        config=load_config(account),
        text=text,
        client_id=client_id or f"c{abs(hash(text)) % 10**8}",
    )

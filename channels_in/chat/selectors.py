"""Read side of live chat: lines as the widget and the inbox show them, the agent's inbox."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.http import Http404
from django.urls import reverse

from tickets.access import agent_tickets
from tickets.models import Attachment
from tickets.roles import is_agent

from ..models import ChatConversation, ChatLine
from .tokens import file_token

_AVATAR_COLORS = ("#2563eb", "#7c3aed", "#db2777", "#ea580c", "#059669", "#0891b2", "#4f46e5")


def person(user: Any) -> dict[str, str]:
    """How an agent appears in the widget: name, initials and a stable avatar colour."""
    if user is None:
        return {"name": "Support", "initials": "S", "color": _AVATAR_COLORS[0]}
    profile = getattr(user, "agent_profile", None)
    name = getattr(profile, "display_name", "") or user.get_full_name() or user.get_username()
    initials = "".join(part[0] for part in name.split()[:2]).upper() or "?"
    digest = hashlib.sha256(str(user.pk).encode()).digest()[0]
    return {
        "name": name,
        "initials": initials,
        "color": _AVATAR_COLORS[digest % len(_AVATAR_COLORS)],
    }


def lines_queryset() -> QuerySet[ChatLine]:
    return ChatLine.objects.select_related(
        "message__author_user__agent_profile", "message__author_contact", "conversation"
    ).prefetch_related(Prefetch("message__attachments", queryset=Attachment.objects.order_by("id")))


def line_payload(line: ChatLine) -> dict[str, Any]:
    """One line as both sides receive it (no internal notes ever become lines)."""
    data: dict[str, Any] = {
        "type": "message",
        "conversation": line.conversation_id,
        "seq": line.seq,
        "from": line.kind,
        "at": line.created_at.isoformat(),
        "text": line.text,
        "name": "",
        "attachments": [],
    }
    message = line.message
    if message is None:
        return data
    data["text"] = message.text
    data["client_id"] = (message.metadata or {}).get("chat", {}).get("client_id", "")
    if line.kind == ChatLine.Kind.AGENT:
        data["agent"] = person(message.author_user)
        data["name"] = data["agent"]["name"]
    else:
        contact = message.author_contact
        data["name"] = (
            (contact.name if contact else "") or line.conversation.visitor_name or "Visitor"
        )
    data["attachments"] = [
        {
            "name": a.filename,
            "size": a.size,
            "type": a.content_type,
            "url": reverse(
                "channels_in:chat-file",
                args=[file_token(attachment_id=a.pk, conversation_id=line.conversation_id)],
            ),
        }
        for a in message.attachments.all()
    ]
    return data


def lines_after(conversation_id: int, seq: int, *, limit: int = 1000) -> list[dict[str, Any]]:
    lines = lines_queryset().filter(conversation_id=conversation_id, seq__gt=seq).order_by("seq")
    return [line_payload(line) for line in lines[:limit]]


def conversation_state(conversation: ChatConversation) -> dict[str, Any]:
    return {
        "conversation": conversation.pk,
        "status": conversation.status,
        "last_seq": conversation.last_seq,
        "agent": person(conversation.agent) if conversation.agent_id else None,
        "ticket": conversation.ticket.number if conversation.ticket is not None else None,
    }


def latest_conversation(*, account_id: int, visitor_id: str) -> ChatConversation | None:
    return (
        ChatConversation.objects.select_related("agent__agent_profile", "ticket")
        .filter(account_id=account_id, visitor_id=visitor_id)
        .order_by("-id")
        .first()
    )


def visible_conversations(user: Any) -> QuerySet[ChatConversation]:
    """Conversations whose ticket this agent may work on (none before the first message)."""
    return ChatConversation.objects.filter(ticket__in=agent_tickets(user))


def access_conversation(user: Any, conversation_id: int) -> ChatConversation:
    if not is_agent(user):
        raise Http404("No such chat.")
    conversation = (
        visible_conversations(user)
        .select_related("ticket", "agent__agent_profile", "account", "contact")
        .filter(pk=conversation_id)
        .first()
    )
    if conversation is None:
        raise Http404("No such chat.")
    return conversation


@dataclass(frozen=True)
class Inbox:
    waiting: list[ChatConversation]
    mine: list[ChatConversation]
    others: list[ChatConversation]
    recent: list[ChatConversation]


def inbox(user: Any) -> Inbox:
    qs = (
        visible_conversations(user)
        .select_related("ticket", "agent__agent_profile", "account")
        .order_by("-last_activity_at")
    )
    live = list(
        qs.filter(status__in=[ChatConversation.Status.WAITING, ChatConversation.Status.ACTIVE])[
            :200
        ]
    )
    recent = list(
        qs.filter(status__in=[ChatConversation.Status.ENDED, ChatConversation.Status.OFFLINE])[:10]
    )
    return Inbox(
        waiting=[c for c in live if c.status == ChatConversation.Status.WAITING],
        mine=[
            c for c in live if c.status == ChatConversation.Status.ACTIVE and c.agent_id == user.pk
        ],
        others=[
            c for c in live if c.status == ChatConversation.Status.ACTIVE and c.agent_id != user.pk
        ],
        recent=recent,
    )

"""Live chat websockets: the visitor's widget and the agents' chat inbox.

Visitor protocol (JSON text frames; the first must be `hello` within 10 s):
  → hello {token, conversation?, last_seq}   ← welcome {conversation, status, agent, online,
                                               last_seq, reset} then every line after last_seq
  → message {client_id, text}                ← ack {client_id, seq} (or error {code, client_id})
  → typing {on}   → seen {seq}   → sync {last_seq}   → ping
  ← message {seq, from, text, name, agent?, attachments, client_id?}   ← status {...}
  ← typing {from: "agent", on, name}
A visitor only ever joins the conversation their signed token names; frames are capped in
size, messages rate-limited per socket (a token bucket), other frames more loosely.

Agent protocol (`/ws/chat/agent/`, agents only):
  → watch {conversation, last_seq}  ← history {conversation, state, lines}
  → unwatch {conversation}   → reply {conversation, text, client_id}  ← ack / error
  → typing {conversation, on}   → ping (keeps the agent "online" for visitors)
  ← message, status, typing (of watched chats), inbox.changed {conversation, status} (a chat
    this agent may take started waiting, was taken, moved or ended)
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.http import Http404

from tickets.roles import is_agent, sees_all_tickets
from tickets.services import ServiceError
from tickets.teams import team_ids

from .chat import presence, selectors
from .chat import services as chat
from .chat.tokens import visitor_from_token
from .config import ChatConfig, ConfigError, load_config
from .models import ChannelAccount, ChannelKind, ChatConversation

log = logging.getLogger(__name__)

HELLO_TIMEOUT = 10.0
AGENT_MAX_FRAME = 64 * 1024
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def db(fn: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    # Off the single "thread-sensitive" thread: chats must not queue behind each other's queries.
    return database_sync_to_async(fn, thread_sensitive=False)


class TokenBucket:
    """`capacity` actions, refilled evenly over `seconds`."""

    def __init__(self, capacity: int, seconds: float) -> None:
        self.capacity = float(capacity)
        self.tokens = float(capacity)
        self.rate = capacity / seconds
        self.updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class Background:
    """Slow work (a message stored and threaded) runs beside the socket's event loop, so
    lines pushed to the socket meanwhile are not held up behind it; a lock per key keeps one
    conversation's work in the order it was asked for."""

    def _background(self, key: object, work: Callable[[], Awaitable[None]]) -> None:
        tasks: set[asyncio.Task[None]] = self.__dict__.setdefault("_tasks", set())
        locks: dict[object, asyncio.Lock] = self.__dict__.setdefault("_locks", {})
        lock = locks.setdefault(key, asyncio.Lock())

        async def run() -> None:
            async with lock:
                try:
                    await work()
                except Exception:  # a socket closed meanwhile must not take the process down
                    log.warning("chat socket work failed", exc_info=True)

        task = asyncio.ensure_future(run())
        tasks.add(task)
        task.add_done_callback(tasks.discard)


def origin_allowed(origin: str, *, host: str, config: ChatConfig) -> bool:
    """The page embedding the widget is the desk itself or one the account allows."""
    if not origin:
        return False
    origin = origin.rstrip("/").lower()
    if urlsplit(origin).netloc == host.lower():
        return True
    return origin in {o.rstrip("/").lower() for o in config.allowed_origins}


def _header(scope: dict[str, Any], name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin1")
    return ""


@database_sync_to_async
def _chat_account(name: str) -> tuple[ChannelAccount, ChatConfig] | None:
    account = ChannelAccount.objects.filter(name=name, kind=ChannelKind.CHAT, active=True).first()
    if account is None:
        return None
    try:
        return account, load_config(account)
    except ConfigError:
        return None


class VisitorConsumer(Background, AsyncJsonWebsocketConsumer):
    account: ChannelAccount
    config: ChatConfig
    conversation_id: int | None = None
    visitor_id: str = ""
    seen_sent: int = 0

    async def connect(self) -> None:
        loaded = await _chat_account(self.scope["url_route"]["kwargs"]["account"])
        if loaded is None:
            await self.close(code=4404)
            return
        self.account, self.config = loaded
        if not origin_allowed(
            _header(self.scope, b"origin"), host=_header(self.scope, b"host"), config=self.config
        ):
            await self.close(code=4403)
            return
        self.messages = TokenBucket(self.config.rate_limit_messages, self.config.rate_limit_seconds)
        self.frames = TokenBucket(
            self.config.rate_limit_messages * 5, self.config.rate_limit_seconds
        )
        await self.accept()
        self.hello_timer = asyncio.get_running_loop().call_later(
            HELLO_TIMEOUT, lambda: asyncio.ensure_future(self._no_hello())
        )

    async def _no_hello(self) -> None:
        if self.conversation_id is None:
            await self.close(code=4408)

    async def disconnect(self, code: int) -> None:
        timer = getattr(self, "hello_timer", None)
        if timer is not None:
            timer.cancel()
        if self.conversation_id is not None:
            await self.channel_layer.group_discard(
                chat.conversation_group(self.conversation_id), self.channel_name
            )

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        if text_data is None:
            await self.close(code=1003)  # text frames only
            return
        if (
            len(text_data) > self.config.max_frame_bytes
            or len(text_data.encode()) > self.config.max_frame_bytes
        ):
            await self.send_json({"type": "error", "code": "too_large"})
            await self.close(code=1009)
            return
        if not self.frames.take():
            await self.close(code=4429)  # a flood, not a person typing
            return
        try:
            content = json.loads(text_data)
        except json.JSONDecodeError:
            await self.send_json({"type": "error", "code": "bad_frame"})
            return
        if not isinstance(content, dict):
            await self.send_json({"type": "error", "code": "bad_frame"})
            return
        await self.receive_json(content)

    async def receive_json(self, content: dict[str, Any], **kwargs: Any) -> None:
        kind = content.get("type")
        handlers: dict[str, Callable[[dict[str, Any]], Awaitable[None]]] = {
            "hello": self.on_hello,
            "message": self.on_message,
            "typing": self.on_typing,
            "seen": self.on_seen,
            "sync": self.on_sync,
            "ping": self.on_ping,
        }
        handler = handlers.get(kind) if isinstance(kind, str) else None
        if handler is None:
            await self.send_json({"type": "error", "code": "unknown_type"})
            return
        if self.conversation_id is None and kind not in ("hello", "ping"):
            await self.send_json({"type": "error", "code": "hello_first"})
            return
        await handler(content)

    async def on_ping(self, content: dict[str, Any]) -> None:
        await self.send_json({"type": "pong"})

    async def on_hello(self, content: dict[str, Any]) -> None:
        if self.conversation_id is not None:
            return
        visitor = visitor_from_token(str(content.get("token") or ""), account_id=self.account.pk)
        conversation = (
            await db(selectors.latest_conversation)(account_id=self.account.pk, visitor_id=visitor)
            if visitor
            else None
        )
        if conversation is None:
            await self.send_json({"type": "error", "code": "no_session"})
            await self.close(code=4401)
            return
        self.visitor_id = visitor or ""
        self.hello_timer.cancel()
        last_seq = _int(content.get("last_seq"))
        if _int(content.get("conversation")) != conversation.pk:
            last_seq = 0
        await self._join(conversation, last_seq=last_seq, reset=False)

    async def _join(self, conversation: ChatConversation, *, last_seq: int, reset: bool) -> None:
        if self.conversation_id is not None:
            await self.channel_layer.group_discard(
                chat.conversation_group(self.conversation_id), self.channel_name
            )
        self.conversation_id = conversation.pk
        # Join first, then read: a line stored in between arrives twice, never zero times.
        await self.channel_layer.group_add(
            chat.conversation_group(conversation.pk), self.channel_name
        )
        state, lines, online = await db(self._snapshot)(conversation.pk, last_seq)
        await self.send_json(
            {
                "type": "welcome",
                **state,
                "online": online,
                "reset": reset,
                "title": self.config.title,
                "welcome": self.config.welcome,
            }
        )
        for line in lines:
            await self.send_json(line)

    def _snapshot(
        self, conversation_id: int, last_seq: int
    ) -> tuple[dict[str, Any], list[dict[str, Any]], bool]:
        conversation = ChatConversation.objects.select_related(
            "agent__agent_profile", "ticket", "account"
        ).get(pk=conversation_id)
        online = chat.chat_availability(account=conversation.account, config=self.config).online
        return (
            selectors.conversation_state(conversation),
            selectors.lines_after(conversation_id, last_seq),
            online,
        )

    async def on_message(self, content: dict[str, Any]) -> None:
        client_id = str(content.get("client_id") or "")
        text = content.get("text")
        if not _CLIENT_ID.match(client_id) or not isinstance(text, str) or not text.strip():
            await self.send_json({"type": "error", "code": "bad_message", "client_id": client_id})
            return
        if len(text) > self.config.max_message_chars:
            await self.send_json({"type": "error", "code": "too_long", "client_id": client_id})
            return
        if not self.messages.take():
            await self.send_json({"type": "error", "code": "rate_limited", "client_id": client_id})
            return
        self._background("post", lambda: self._post_and_ack(text, client_id))

    async def _post_and_ack(self, text: str, client_id: str) -> None:
        try:
            posted = await db(self._post)(text, client_id)
        except chat.EmailRequired as exc:
            await self.send_json(
                {
                    "type": "error",
                    "code": "email_required",
                    "client_id": client_id,
                    "detail": str(exc),
                }
            )
            return
        except ServiceError as exc:
            await self.send_json(
                {"type": "error", "code": "failed", "client_id": client_id, "detail": str(exc)}
            )
            return
        if posted.new_conversation:
            await self._join(posted.conversation, last_seq=0, reset=True)
        await self.send_json(
            {
                "type": "ack",
                "client_id": client_id,
                "seq": posted.line.seq,
                "conversation": posted.conversation.pk,
            }
        )

    def _post(self, text: str, client_id: str) -> chat.Posted:
        assert self.conversation_id is not None  # on_message runs after a hello
        conversation = ChatConversation.objects.select_related("account").get(
            pk=self.conversation_id, visitor_id=self.visitor_id
        )
        return chat.visitor_message_post(
            conversation=conversation, config=self.config, text=text, client_id=client_id
        )

    async def on_typing(self, content: dict[str, Any]) -> None:
        await self.channel_layer.group_send(
            chat.conversation_group(self.conversation_id or 0),
            {
                "type": "chat.typing",
                "from": "visitor",
                "on": bool(content.get("on")),
                "sender": self.channel_name,
                "conversation": self.conversation_id,
                "name": "",
            },
        )

    async def on_seen(self, content: dict[str, Any]) -> None:
        seq = _int(content.get("seq"))
        if seq <= self.seen_sent:
            return
        self.seen_sent = seq

        def mark() -> None:
            assert self.conversation_id is not None
            conversation = ChatConversation.objects.get(
                pk=self.conversation_id, visitor_id=self.visitor_id
            )
            chat.visitor_seen(conversation=conversation, seq=seq)

        await db(mark)()

    async def on_sync(self, content: dict[str, Any]) -> None:
        lines = await db(selectors.lines_after)(self.conversation_id, _int(content.get("last_seq")))
        for line in lines:
            await self.send_json(line)

    # channel-layer events
    async def chat_line(self, event: dict[str, Any]) -> None:
        await self.send_json(event["line"])

    async def chat_status(self, event: dict[str, Any]) -> None:
        await self.send_json({**{k: v for k, v in event.items() if k != "type"}, "type": "status"})

    async def chat_typing(self, event: dict[str, Any]) -> None:
        if event.get("from") == "agent":
            await self.send_json(
                {
                    "type": "typing",
                    "from": "agent",
                    "on": event["on"],
                    "name": event.get("name", ""),
                }
            )


def _int(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


@database_sync_to_async
def _agent_setup(user: Any) -> tuple[list[str], dict[str, str]] | None:
    """The inbox groups this agent hears (as the desk's: their teams, or all) and their face."""
    if not is_agent(user):
        return None
    names = [chat.inbox_user(user.pk)]
    if sees_all_tickets(user):
        names.append(chat.INBOX_ALL)
    else:
        names += [chat.inbox_group(g) for g in team_ids(user)]
    return names, selectors.person(user)


class AgentChatConsumer(Background, AsyncJsonWebsocketConsumer):
    desk_groups: list[str]
    watching: set[int]

    async def connect(self) -> None:
        self.user = self.scope.get("user")
        setup = await _agent_setup(self.user)
        if setup is None:
            await self.close(code=4403)
            return
        self.desk_groups, self.me = setup
        self.watching = set()
        for name in self.desk_groups:
            await self.channel_layer.group_add(name, self.channel_name)
        await self.accept()
        await db(presence.agent_heartbeat)(user_id=self.user.pk, socket=self.channel_name)

    async def disconnect(self, code: int) -> None:
        for name in getattr(self, "desk_groups", []):
            await self.channel_layer.group_discard(name, self.channel_name)
        for conversation_id in getattr(self, "watching", set()):
            await self.channel_layer.group_discard(
                chat.conversation_group(conversation_id), self.channel_name
            )
        if getattr(self, "desk_groups", None):
            await db(presence.agent_gone)(user_id=self.user.pk, socket=self.channel_name)

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        if text_data is None or len(text_data) > AGENT_MAX_FRAME:
            await self.close(code=1009)
            return
        await super().receive(text_data=text_data, **kwargs)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict):
            return
        handlers: dict[str, Callable[[dict[str, Any]], Awaitable[None]]] = {
            "ping": self.on_ping,
            "watch": self.on_watch,
            "unwatch": self.on_unwatch,
            "reply": self.on_reply,
            "typing": self.on_typing,
        }
        handler = handlers.get(content.get("type", ""))
        if handler is None:
            await self.send_json({"type": "error", "code": "unknown_type"})
            return
        await handler(content)

    async def on_ping(self, content: dict[str, Any]) -> None:
        await db(presence.agent_heartbeat)(user_id=self.user.pk, socket=self.channel_name)
        await self.send_json({"type": "pong"})

    async def _access(self, content: dict[str, Any]) -> ChatConversation | None:
        try:
            return await db(selectors.access_conversation)(
                self.user, _int(content.get("conversation"))
            )
        except Http404:
            await self.send_json(
                {"type": "error", "code": "not_found", "conversation": content.get("conversation")}
            )
            return None

    async def on_watch(self, content: dict[str, Any]) -> None:
        conversation = await self._access(content)
        if conversation is None:
            return
        self.watching.add(conversation.pk)
        await self.channel_layer.group_add(
            chat.conversation_group(conversation.pk), self.channel_name
        )

        def snapshot() -> tuple[dict[str, Any], list[dict[str, Any]]]:
            conv = ChatConversation.objects.select_related("agent__agent_profile", "ticket").get(
                pk=conversation.pk
            )
            return (
                selectors.conversation_state(conv),
                selectors.lines_after(conv.pk, _int(content.get("last_seq"))),
            )

        state, lines = await db(snapshot)()
        await self.send_json(
            {"type": "history", "conversation": conversation.pk, "state": state, "lines": lines}
        )

    async def on_unwatch(self, content: dict[str, Any]) -> None:
        conversation_id = _int(content.get("conversation"))
        if conversation_id in self.watching:
            self.watching.discard(conversation_id)
            await self.channel_layer.group_discard(
                chat.conversation_group(conversation_id), self.channel_name
            )

    async def on_reply(self, content: dict[str, Any]) -> None:
        client_id = str(content.get("client_id") or "")[:64]
        text = content.get("text")
        if not isinstance(text, str) or not text.strip():
            await self.send_json({"type": "error", "code": "bad_message", "client_id": client_id})
            return
        conversation_id = _int(content.get("conversation"))
        self._background(conversation_id, lambda: self._reply(content, text, client_id))

    async def _reply(self, content: dict[str, Any], text: str, client_id: str) -> None:
        conversation = await self._access(content)
        if conversation is None:
            return
        try:
            line = await db(chat.chat_agent_reply)(
                conversation=conversation, agent=self.user, text=text
            )
        except ServiceError as exc:
            await self.send_json(
                {"type": "error", "code": "failed", "client_id": client_id, "detail": str(exc)}
            )
            return
        await self.send_json(
            {
                "type": "ack",
                "client_id": client_id,
                "conversation": conversation.pk,
                "seq": line.seq if line is not None else None,
            }
        )

    async def on_typing(self, content: dict[str, Any]) -> None:
        conversation_id = _int(content.get("conversation"))
        if conversation_id not in self.watching:
            return
        await self.channel_layer.group_send(
            chat.conversation_group(conversation_id),
            {
                "type": "chat.typing",
                "from": "agent",
                "on": bool(content.get("on")),
                "sender": self.channel_name,
                "conversation": conversation_id,
                "name": self.me["name"],
            },
        )

    # channel-layer events
    async def chat_inbox(self, event: dict[str, Any]) -> None:
        await self.send_json(
            {
                "type": "inbox.changed",
                "conversation": event["conversation"],
                "status": event["status"],
            }
        )

    async def chat_line(self, event: dict[str, Any]) -> None:
        await self.send_json(event["line"])

    async def chat_status(self, event: dict[str, Any]) -> None:
        await self.send_json({**{k: v for k, v in event.items() if k != "type"}, "type": "status"})

    async def chat_typing(self, event: dict[str, Any]) -> None:
        if event.get("from") == "visitor":
            await self.send_json(
                {
                    "type": "typing",
                    "from": "visitor",
                    "on": event["on"],
                    "conversation": event["conversation"],
                }
            )

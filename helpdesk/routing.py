"""Websocket routes. Agents' sockets accept only our own origins (AllowedHostsOriginValidator);
the chat widget's visitor socket is opened from customers' websites, so it skips that check and
the consumer enforces each chat account's own list of allowed origins instead."""

from __future__ import annotations

from typing import Any

from channels.auth import AuthMiddlewareStack
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from channels_in.consumers import AgentChatConsumer, VisitorConsumer
from tickets.consumers import DeskConsumer


def staff_only(app: Any) -> Any:
    return AllowedHostsOriginValidator(AuthMiddlewareStack(app))


websocket_urlpatterns = [
    path("ws/desk/", staff_only(DeskConsumer.as_asgi())),
    path("ws/chat/agent/", staff_only(AgentChatConsumer.as_asgi())),
    path("ws/chat/<slug:account>/", AuthMiddlewareStack(VisitorConsumer.as_asgi())),
]

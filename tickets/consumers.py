"""The agents' websocket: one per open desk page, fed by `tickets.live`."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from . import live
from .roles import is_agent, sees_all_tickets
from .teams import team_ids


@database_sync_to_async
def _subscriptions(user: Any) -> list[str]:
    if not is_agent(user):
        return []
    names = [live.assignee_channel(user.pk)]
    if sees_all_tickets(user):
        return [live.ALL_GROUP, *names]
    names += [live.group_channel(gid) for gid in team_ids(user)]
    return names


class DeskConsumer(AsyncJsonWebsocketConsumer):
    groups_joined: list[str]

    async def connect(self) -> None:
        self.groups_joined = await _subscriptions(self.scope.get("user"))
        if not self.groups_joined:
            await self.close(code=4403)
            return
        for name in self.groups_joined:
            await self.channel_layer.group_add(name, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for name in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(name, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def ticket_changed(self, event: dict[str, Any]) -> None:
        await self.send_json(
            {"type": "ticket.changed", "number": event["number"], "kind": event["kind"]}
        )

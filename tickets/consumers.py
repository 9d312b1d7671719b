"""The agents' websocket: one per open desk page, fed by `tickets.live`.

Besides the live updates, a ticket page uses it for presence: it joins its ticket
(`presence.join`, repeated as a heartbeat), says when its agent types a reply or a note
(`presence.typing`), and hears who else is there (`presence`). Only an agent who may see the
ticket joins its group. The same socket hears the agent's own notifications (`notification`).
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from . import live, presence
from .access import agent_tickets
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


@database_sync_to_async
def _visible_ticket_id(user: Any, number: Any) -> int | None:
    if not isinstance(number, int) or isinstance(number, bool):
        return None
    return agent_tickets(user).filter(number=number).values_list("pk", flat=True).first()


class DeskConsumer(AsyncJsonWebsocketConsumer):
    groups_joined: list[str]
    on_ticket: tuple[int, int] | None = None  # (ticket id, number) of the page's ticket
    typing: str = ""
    redis: Any = None

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
        await self._leave()
        if self.redis is not None:
            await self.redis.aclose()
            self.redis = None

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind == "ping":
            await self.send_json({"type": "pong"})
        elif kind == "presence.join":
            await self._join(content.get("ticket"))
        elif kind == "presence.typing":
            await self._set_typing(content.get("ticket"), content.get("mode"))
        elif kind == "presence.leave":
            await self._leave()

    # --- presence -------------------------------------------------------------------------

    def _viewer(self) -> presence.Viewer:
        user = self.scope["user"]
        name = user.get_full_name() or user.get_username()
        return presence.Viewer(
            id=user.pk, name=name, initials=presence.initials_of(name), typing=self.typing
        )

    async def _join(self, number: Any) -> None:
        if self.on_ticket is not None and self.on_ticket[1] == number:
            await self._touch(announce=False)  # a heartbeat: renew, and refresh our picture
            await self._send_state()
            return
        await self._leave()
        ticket_id = await _visible_ticket_id(self.scope["user"], number)
        if ticket_id is None:
            await self.send_json({"type": "presence.denied", "ticket": number})
            return
        if self.redis is None:
            self.redis = presence.connect()
        self.on_ticket = (ticket_id, number)
        self.typing = ""
        await self.channel_layer.group_add(presence.ticket_channel(ticket_id), self.channel_name)
        await self._touch(announce=True)

    async def _set_typing(self, number: Any, mode: Any) -> None:
        if self.on_ticket is None or self.on_ticket[1] != number:
            return
        mode = mode if isinstance(mode, str) and mode in presence.TYPING_MODES else ""
        if mode == self.typing:
            return
        self.typing = mode
        await self._touch(announce=True)

    async def _leave(self) -> None:
        if self.on_ticket is None:
            return
        ticket_id, _ = self.on_ticket
        self.on_ticket = None
        await self.channel_layer.group_discard(
            presence.ticket_channel(ticket_id), self.channel_name
        )
        if self.redis is not None:
            await presence.presence_drop(self.redis, ticket_id=ticket_id, channel=self.channel_name)
            await self._broadcast(ticket_id)

    async def _touch(self, *, announce: bool) -> None:
        assert self.on_ticket is not None
        ticket_id, _ = self.on_ticket
        await presence.presence_touch(
            self.redis, ticket_id=ticket_id, channel=self.channel_name, viewer=self._viewer()
        )
        if announce:
            await self._broadcast(ticket_id)

    async def _broadcast(self, ticket_id: int) -> None:
        viewers = await presence.presence_list(self.redis, ticket_id=ticket_id)
        await self.channel_layer.group_send(
            presence.ticket_channel(ticket_id),
            {
                "type": "presence.state",
                "ticket_id": ticket_id,
                "viewers": presence.viewers_json(viewers),
            },
        )

    async def _send_state(self) -> None:
        assert self.on_ticket is not None
        viewers = await presence.presence_list(self.redis, ticket_id=self.on_ticket[0])
        await self.send_json(
            {
                "type": "presence",
                "ticket": self.on_ticket[1],
                "viewers": presence.viewers_json(viewers),
            }
        )

    async def presence_state(self, event: dict[str, Any]) -> None:
        if self.on_ticket is None or self.on_ticket[0] != event["ticket_id"]:
            return  # a message queued before we left
        await self.send_json(
            {"type": "presence", "ticket": self.on_ticket[1], "viewers": event["viewers"]}
        )

    # --- live updates ---------------------------------------------------------------------

    async def ticket_changed(self, event: dict[str, Any]) -> None:
        await self.send_json(
            {"type": "ticket.changed", "number": event["number"], "kind": event["kind"]}
        )

    async def notification_new(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "notification", "unread": event["unread"]})

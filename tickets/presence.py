"""Who is on a ticket right now: viewers and typists, kept in Redis with an expiry.

Each open ticket page is one entry in a Redis hash per ticket (`presence:ticket:<id>`), keyed
by the socket's channel name, holding who it is, what they are typing and when the entry runs
out. A page renews its entry with a heartbeat; a tab that is killed without closing its socket
stops renewing and drops out when its entry expires (readers skip and delete expired entries).
Nothing is kept in process memory, so any number of web processes share one picture.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings
from redis import asyncio as aioredis

TTL_SECONDS = 45  # the page heartbeats every 15 s: two missed beats and it is gone
TYPING_MODES = frozenset({"", "reply", "note"})


def ticket_channel(ticket_id: int) -> str:
    return f"desk.ticket.{ticket_id}"


def _key(ticket_id: int) -> str:
    return f"presence:ticket:{ticket_id}"


@dataclass(frozen=True)
class Viewer:
    id: int
    name: str
    initials: str
    typing: str  # "", "reply" or "note"


def initials_of(name: str) -> str:
    parts = [p for p in name.replace(".", " ").split() if p]
    if not parts:
        return "?"
    if len(parts) == 1:
        return parts[0][:2].upper()
    return (parts[0][0] + parts[-1][0]).upper()


def connect() -> aioredis.Redis:
    """One client per socket: a client is bound to the event loop that made it."""
    return aioredis.from_url(settings.REDIS_URL)


async def presence_touch(
    redis: aioredis.Redis, *, ticket_id: int, channel: str, viewer: Viewer, now: float | None = None
) -> None:
    """Record (or renew) one page's entry."""
    expires = (now or time.time()) + TTL_SECONDS
    key = _key(ticket_id)
    entry = json.dumps({**asdict(viewer), "expires": expires})
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(key, channel, entry)
        pipe.expire(key, TTL_SECONDS * 2)
        await pipe.execute()


async def presence_drop(redis: aioredis.Redis, *, ticket_id: int, channel: str) -> None:
    await redis.hdel(_key(ticket_id), channel)


async def presence_list(
    redis: aioredis.Redis, *, ticket_id: int, now: float | None = None
) -> list[Viewer]:
    """Everyone on the ticket, one entry per person (a person with two tabs shows once, typing
    if either tab types), ordered by name. Expired entries are removed on the way."""
    now = now or time.time()
    raw: dict[Any, Any] = await redis.hgetall(_key(ticket_id))
    people: dict[int, Viewer] = {}
    stale: list[Any] = []
    for field, value in raw.items():
        try:
            data = json.loads(value)
            viewer = Viewer(
                id=int(data["id"]),
                name=str(data["name"]),
                initials=str(data["initials"]),
                typing=str(data["typing"]),
            )
            expires = float(data["expires"])
        except (ValueError, KeyError, TypeError):
            stale.append(field)
            continue
        if expires < now:
            stale.append(field)
            continue
        known = people.get(viewer.id)
        if known is None or (viewer.typing and not known.typing):
            people[viewer.id] = viewer
    if stale:
        await redis.hdel(_key(ticket_id), *stale)
    return sorted(people.values(), key=lambda v: (v.name.lower(), v.id))


def viewers_json(viewers: list[Viewer]) -> list[dict[str, Any]]:
    return [asdict(v) for v in viewers]

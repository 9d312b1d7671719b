"""Which agents have the chat inbox open, kept in Redis so every web process agrees.

Each open inbox socket is a member of one sorted set, scored by when it expires; the socket
refreshes it on every ping (the page pings every 20 s), so a crashed process's agents drop
out by themselves within `TTL_SECONDS`."""

from __future__ import annotations

import time
from functools import lru_cache

import redis
from django.conf import settings
from django.contrib.auth import get_user_model

from tickets.teams import group_workers_q

from ..models import ChannelAccount

TTL_SECONDS = 60


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def _key() -> str:
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
    return f"{prefix}:chat:agents-online"


def agent_heartbeat(*, user_id: int, socket: str) -> None:
    _client(settings.REDIS_URL).zadd(_key(), {f"{user_id}|{socket}": time.time() + TTL_SECONDS})


def agent_gone(*, user_id: int, socket: str) -> None:
    _client(settings.REDIS_URL).zrem(_key(), f"{user_id}|{socket}")


def online_agent_ids() -> set[int]:
    client = _client(settings.REDIS_URL)
    now = time.time()
    client.zremrangebyscore(_key(), "-inf", now)
    members = client.zrangebyscore(_key(), now, "+inf")
    return {int(_text(m).split("|", 1)[0]) for m in members}


def _text(member: object) -> str:
    return member.decode() if isinstance(member, bytes) else str(member)


def agents_online(account: ChannelAccount) -> bool:
    """Someone who may answer this account's chats has the inbox open: a member of its
    group, or a supervisor/admin (they see every group)."""
    ids = online_agent_ids()
    if not ids:
        return False
    users = get_user_model().objects.filter(pk__in=ids, is_active=True)
    return users.filter(group_workers_q(account.group_id)).exists()

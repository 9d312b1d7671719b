"""Kombu's Redis transport with a visibility timeout per queue.

With `acks_late`, a task a worker has taken sits in Redis' `unacked` index, scored by when it
was taken; any worker's periodic restore puts back on its queue every entry older than the
visibility timeout. That is how a task held by a worker killed with SIGKILL comes back. Kombu
has one timeout per connection, and one worker (or `make run`'s single worker) consumes every
queue, yet the queues' work differs: an ingest task takes well under a second and should come
back within minutes; a delivery may wait on a slow SMTP server and retries with countdowns of
up to ten minutes (a countdown longer than the timeout would run twice); a report may rebuild
for most of an hour.

So the entry of a message taken from queue Q is scored `taken + (timeout(Q) - timeout)`
instead of `taken`: the restore, which compares scores with `now - timeout`, then gives it back
exactly `timeout(Q)` after it was taken, in whatever worker topology, with no change to
how messages are published or restored. `queue_visibility_timeouts` (a transport option)
maps queue name to seconds; queues not named keep `visibility_timeout`.

This is the broker's second line of defence; the first is the sweeper
(`channels_in.recovery`), which finds stuck rows in the database after a few minutes whatever
the broker does. Both rely on the tasks being idempotent.

Selected by `CELERY_BROKER_TRANSPORT` (TCP URLs) or by the `helpdesk-redis+socket://` URL
scheme (the embedded server's unix socket), registered below.
"""

from __future__ import annotations

from time import time
from typing import Any

from kombu.transport import TRANSPORT_ALIASES, virtual
from kombu.transport import redis as kombu_redis
from kombu.utils.json import dumps

ALIAS = "helpdesk-redis"
TRANSPORT_ALIASES.setdefault(ALIAS, "helpdesk.broker:Transport")


class QoS(kombu_redis.QoS):
    def append(self, message: Any, delivery_tag: str) -> None:
        # kombu's own append, with the score moved by the message's queue (see module note)
        delivery = message.delivery_info
        exchange, routing_key = delivery["exchange"], delivery["routing_key"]
        score = time() + self.channel.visibility_offset(routing_key or exchange)
        with self.pipe_or_acquire() as pipe:
            pipe.zadd(self.unacked_index_key, {delivery_tag: score}).hset(
                self.unacked_key, delivery_tag, dumps([message._raw, exchange, routing_key])
            ).execute()
            virtual.QoS.append(self, message, delivery_tag)


class Channel(kombu_redis.Channel):
    QoS = QoS
    queue_visibility_timeouts: dict[str, float] = {}  # noqa: RUF012 - replaced per channel
    from_transport_options = (  # type: ignore[assignment]
        *kombu_redis.Channel.from_transport_options,
        "queue_visibility_timeouts",
    )

    def visibility_offset(self, queue: str) -> float:
        timeout = self.queue_visibility_timeouts.get(queue)
        return 0.0 if timeout is None else float(timeout) - float(self.visibility_timeout)

    def visibility_timeout_of(self, queue: str) -> float:
        return float(self.visibility_timeout) + self.visibility_offset(queue)


class Transport(kombu_redis.Transport):
    Channel = Channel

"""Each queue's tasks come back from a dead worker after that queue's own visibility timeout,
on the real Redis broker, and no retry waits longer than its queue's timeout."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import redis
from django.conf import settings
from kombu import Connection, Exchange, Producer
from kombu import Queue as KombuQueue

from helpdesk.broker import Transport
from helpdesk.celery import app
from helpdesk.settings import _redis_for_celery


@pytest.fixture
def connection() -> Iterator[Connection]:
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    conn = Connection(
        settings.CELERY_BROKER_URL,
        transport=settings.CELERY_BROKER_TRANSPORT,
        transport_options={
            "visibility_timeout": 60,
            "queue_visibility_timeouts": {f"{prefix}-fast": 1},
            # our own bookkeeping keys, so no worker of this test run restores these
            "unacked_key": f"{prefix}-unacked",
            "unacked_index_key": f"{prefix}-unacked-index",
            "unacked_mutex_key": f"{prefix}-unacked-mutex",
        },
    )
    conn.prefix = prefix  # type: ignore[attr-defined]
    try:
        yield conn
    finally:
        conn.release()  # (puts what it still holds back on the queues)
        client = redis.Redis.from_url(settings.REDIS_URL)
        for key in client.keys(f"{prefix}*"):
            client.delete(key)
        client.close()


def test_a_taken_message_comes_back_after_its_own_queues_timeout(connection: Connection) -> None:
    prefix = connection.prefix  # type: ignore[attr-defined]
    channel = connection.default_channel
    names = {"fast": f"{prefix}-fast", "slow": f"{prefix}-slow"}
    for name in names.values():
        queue = KombuQueue(name, Exchange(name), routing_key=name)
        queue(channel).declare()
        Producer(channel).publish({"q": name}, exchange=name, routing_key=name)
    taken = {kind: channel.basic_get(name, no_ack=False) for kind, name in names.items()}
    assert all(taken.values())
    assert channel.client.llen(names["fast"]) == 0
    scores = dict(channel.client.zrange(f"{prefix}-unacked-index", 0, -1, withscores=True))
    fast, slow = (scores[taken[k].delivery_tag.encode()] for k in ("fast", "slow"))
    assert slow - fast == pytest.approx(59, abs=1)  # 60 s against 1 s
    time.sleep(1.5)  # the worker that took them "died": nobody acknowledges
    channel.qos.restore_visible(num=100, interval=1)
    assert channel.client.llen(names["fast"]) == 1
    assert channel.client.llen(names["slow"]) == 0  # still within its 60 s


def test_the_app_uses_this_transport_for_tcp_and_for_the_embedded_socket() -> None:
    with app.connection_for_read() as conn:
        assert isinstance(conn.transport, Transport)
    socket_url = _redis_for_celery("unix:///srv/var/redis.sock")
    assert socket_url == "helpdesk-redis+socket:///srv/var/redis.sock"
    assert Connection(socket_url).transport_cls == "helpdesk-redis"
    assert Connection(socket_url).get_transport_cls() is Transport


def test_no_retry_waits_longer_than_its_queues_visibility_timeout() -> None:
    app.loader.import_default_modules()
    timeouts = settings.HELPDESK_QUEUE_VISIBILITY_TIMEOUTS
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    assert options["queue_visibility_timeouts"] == timeouts
    checked = 0
    for name, task in app.tasks.items():
        queue = getattr(task, "route_to", None)
        backoff = getattr(task, "retry_backoff", False)
        if queue is None or not backoff:
            continue
        # Celery's autoretry countdown: factor * 2 ** retries, capped at retry_backoff_max
        cap = getattr(task, "retry_backoff_max", 600)  # Celery's default
        longest = min(cap, int(backoff) * 2 ** (task.max_retries or 0))
        assert longest < timeouts[str(queue)], name
        checked += 1
    assert checked >= 4  # process_inbound, apply_receipt, poll_mailbox, send_acknowledgement
    # deliver_outbound computes its own countdowns, capped by this setting
    assert settings.HELPDESK_DELIVERY_RETRY_MAX < timeouts["deliver"]
    # a dead ingest worker's task is back within minutes; a report may run for most of an hour
    assert timeouts["ingest"] <= 300 and timeouts["reports"] >= 3600

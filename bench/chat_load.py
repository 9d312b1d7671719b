"""Live chat under load: N visitor websockets talking to agents through the real ASGI app.

Against daphne (started here, `--servers` processes on free ports, unless `--url` names running
ones) on the database DATABASE_URL names, which it fills with its own chat account, agents and
tickets (`bench.run` points it at a scratch database):

1. `--agents` agents open the chat inbox socket (so visitors find someone online);
2. `--visitors` visitors get a session and open the widget socket (connect + hello);
3. each visitor sends an opening message (its ticket is created): send → ack latency;
4. the agents watch every conversation; then over `--duration` seconds each visitor sends
   `--messages` more, at random moments, and the agent watching answers each at once:
   visitor → agent delivery latency, agent → visitor delivery latency.

A message is lost when it was acknowledged as stored but its other side never saw it within
`--grace` seconds after the last send. Prints a summary on stderr and `BENCH {json}` lines on
stdout (see `bench.common.emit`).

    python -m bench.chat_load --visitors 1000 --agents 10 --messages 1 --duration 90

Each message is answered, so the exchange runs at about 2 x visitors x messages / duration
frames a second (22/s with the defaults); on 2 cores the whole pipeline (store, thread, number,
push; reply, deliver, push) saturates near 30 a second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from bench.common import ROOT, emit, percentile, say, setup_django

ACCOUNT = "bench-chat"


@dataclass
class Stats:
    connect_ms: list[float] = field(default_factory=list)
    ack_ms: list[float] = field(default_factory=list)
    to_agent_ms: list[float] = field(default_factory=list)
    to_visitor_ms: list[float] = field(default_factory=list)
    sent: dict[str, float] = field(default_factory=dict)  # visitor message key -> sent at
    acked: set[str] = field(default_factory=set)
    seen_by_agent: set[str] = field(default_factory=set)
    replied: dict[str, float] = field(default_factory=dict)  # reply key -> sent at
    reply_acked: set[str] = field(default_factory=set)
    seen_by_visitor: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)


# --- preparing the database -------------------------------------------------------------------


def prepare(visitors: int, agents: int) -> tuple[list[dict[str, Any]], list[str]]:
    """The chat account, agents with logged-in sessions, and one session per visitor."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import Group as AuthGroup

    from channels_in.chat import presence
    from channels_in.chat.services import visitor_session_start
    from channels_in.models import ChannelAccount, ChannelKind
    from tickets.models import Group
    from tickets.roles import Role

    presence._client(settings.REDIS_URL).delete(presence._key())
    team, _ = Group.objects.get_or_create(name="Bench chat")
    account, _ = ChannelAccount.objects.update_or_create(
        name=ACCOUNT,
        defaults={
            "kind": ChannelKind.CHAT,
            "group": team,
            "active": True,
            "config": {"title": "Bench chat"},
        },
    )
    role, _ = AuthGroup.objects.get_or_create(name=Role.AGENT.value)
    store = import_module(settings.SESSION_ENGINE).SessionStore
    cookies = []
    from django.contrib.auth import get_user_model

    for n in range(agents):
        user, _ = get_user_model().objects.get_or_create(
            username=f"bench-agent-{n}",
            defaults={"email": f"bench-agent-{n}@bench.test", "first_name": f"Agent{n}"},
        )
        user.groups.add(role)
        team.members.add(user)
        session = store()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.save()
        cookies.append(f"{settings.SESSION_COOKIE_NAME}={session.session_key}")
    people = []
    for n in range(visitors):
        started = visitor_session_start(
            account=account, token="", name=f"Visitor {n}", email="", page_url="bench"
        )
        people.append({"n": n, "token": started.token, "conversation": started.conversation.pk})
    return people, cookies


# --- servers ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def daphne(count: int) -> Iterator[list[str]]:
    """`count` daphne processes of the real application; yields their base URLs."""
    procs: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    logs = tempfile.TemporaryDirectory(prefix="chat-bench-")
    from django.conf import settings

    # as in production: DEBUG off (no per-query bookkeeping); the same secret key as this
    # process, which signed the visitors' tokens and the agents' sessions
    env = dict(
        os.environ,
        PYTHONUNBUFFERED="1",
        LOG_LEVEL=os.environ.get("LOG_LEVEL", "WARNING"),
        DEBUG="0",
        BEHIND_TLS="0",
        SECRET_KEY=settings.SECRET_KEY,
        ALLOWED_HOSTS="127.0.0.1,localhost",
    )
    try:
        for index in range(count):
            port = _free_port()
            log = open(os.path.join(logs.name, f"daphne-{index}.log"), "wb")  # noqa: SIM115
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "daphne",
                        "-b",
                        "127.0.0.1",
                        "-p",
                        str(port),
                        "helpdesk.asgi:application",
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            urls.append(f"127.0.0.1:{port}")
        for url, proc in zip(urls, procs, strict=True):
            host, port = url.split(":")
            deadline = time.monotonic() + 40
            while True:
                if proc.poll() is not None:
                    raise SystemExit(f"daphne on {url} exited at start (logs in {logs.name})")
                try:
                    with socket.create_connection((host, int(port)), timeout=0.5):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit(f"daphne on {url} did not start") from None
                    time.sleep(0.2)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        logs.cleanup()


# --- the load -----------------------------------------------------------------------------


def _now() -> float:
    return time.perf_counter()


async def _open(url: str, **kwargs: Any) -> Any:
    from websockets.asyncio.client import connect

    host = url.split("/")[2]
    return await connect(
        url, origin=f"http://{host}", max_size=2**20, open_timeout=60, ping_interval=None, **kwargs
    )


class Agent:
    def __init__(self, base: str, cookie: str, stats: Stats) -> None:
        self.base, self.cookie, self.stats = base, cookie, stats
        self.ws: Any = None
        self.watched: set[int] = set()
        self.watch_done = asyncio.Event()
        self.expect_watch = 0

    async def start(self) -> None:
        self.ws = await _open(
            f"ws://{self.base}/ws/chat/agent/", additional_headers={"Cookie": self.cookie}
        )
        self.reader = asyncio.create_task(self.read())

    async def watch(self, conversations: list[int]) -> None:
        self.expect_watch = len(conversations)
        for conversation in conversations:
            await self.ws.send(
                json.dumps({"type": "watch", "conversation": conversation, "last_seq": 1 << 30})
            )
        if conversations:
            try:
                await asyncio.wait_for(self.watch_done.wait(), timeout=20)
            except TimeoutError:
                self.stats.errors.append(
                    f"agent watched {len(self.watched)} of {len(conversations)} chats"
                )

    async def read(self) -> None:
        async for raw in self.ws:
            frame = json.loads(raw)
            kind = frame.get("type")
            if kind == "history":
                self.watched.add(frame["conversation"])
                if len(self.watched) >= self.expect_watch:
                    self.watch_done.set()
            elif kind == "message" and frame.get("from") == "visitor":
                key = frame.get("text", "")
                if key in self.stats.sent and key not in self.stats.seen_by_agent:
                    self.stats.seen_by_agent.add(key)
                    self.stats.to_agent_ms.append((_now() - self.stats.sent[key]) * 1000)
                    reply = "r" + key[1:]
                    self.stats.replied[reply] = _now()
                    await self.ws.send(
                        json.dumps(
                            {
                                "type": "reply",
                                "text": reply,
                                "conversation": frame["conversation"],
                                "client_id": reply,
                            }
                        )
                    )
            elif kind == "ack" and frame.get("seq") is not None:
                self.stats.reply_acked.add(frame["client_id"])
            elif kind == "error":
                self.stats.errors.append(f"agent: {frame}")


class Visitor:
    def __init__(self, base: str, person: dict[str, Any], stats: Stats) -> None:
        self.base, self.person, self.stats = base, person, stats
        self.ws: Any = None
        self.acks: dict[str, asyncio.Future[None]] = {}

    async def start(self) -> None:
        started = _now()
        self.ws = await _open(f"ws://{self.base}/ws/chat/{ACCOUNT}/")
        await self.ws.send(
            json.dumps(
                {
                    "type": "hello",
                    "token": self.person["token"],
                    "conversation": self.person["conversation"],
                    "last_seq": 0,
                }
            )
        )
        while True:
            frame = json.loads(await self.ws.recv())
            if frame.get("type") == "welcome":
                break
        self.stats.connect_ms.append((_now() - started) * 1000)
        self.reader = asyncio.create_task(self.read())

    async def say(self, number: int) -> None:
        key = f"v{self.person['n']}-{number}"
        self.acks[key] = asyncio.get_running_loop().create_future()
        self.stats.sent[key] = _now()
        await self.ws.send(json.dumps({"type": "message", "client_id": key, "text": key}))
        await self.acks[key]

    async def read(self) -> None:
        async for raw in self.ws:
            frame = json.loads(raw)
            kind = frame.get("type")
            if kind == "ack":
                key = frame["client_id"]
                self.stats.acked.add(key)
                self.stats.ack_ms.append((_now() - self.stats.sent[key]) * 1000)
                if not self.acks[key].done():
                    self.acks[key].set_result(None)
            elif kind == "message" and frame.get("from") == "agent":
                key = frame.get("text", "")
                if key in self.stats.replied and key not in self.stats.seen_by_visitor:
                    self.stats.seen_by_visitor.add(key)
                    self.stats.to_visitor_ms.append((_now() - self.stats.replied[key]) * 1000)
            elif kind == "error":
                self.stats.errors.append(f"visitor {self.person['n']}: {frame}")
                future = self.acks.get(frame.get("client_id", ""))
                if future is not None and not future.done():
                    future.set_result(None)


async def run_load(
    urls: list[str],
    people: list[dict[str, Any]],
    cookies: list[str],
    *,
    messages: int,
    duration: float,
    grace: float,
    opening_rate: float,
) -> tuple[Stats, dict[str, float]]:
    stats = Stats()
    phases: dict[str, float] = {}
    agents = [Agent(urls[i % len(urls)], cookie, stats) for i, cookie in enumerate(cookies)]
    await asyncio.gather(*(agent.start() for agent in agents))

    started = _now()
    visitors = [Visitor(urls[p["n"] % len(urls)], p, stats) for p in people]
    gate = asyncio.Semaphore(100)  # handshakes in flight at once

    async def connect(visitor: Visitor) -> None:
        async with gate:
            await visitor.start()

    await asyncio.gather(*(connect(v) for v in visitors))
    phases["connect_s"] = _now() - started
    say(f"  {len(visitors)} visitors connected in {phases['connect_s']:.1f} s")

    started = _now()

    async def opening(visitor: Visitor, delay: float) -> None:
        await asyncio.sleep(delay)
        await visitor.say(0)

    await asyncio.gather(*(opening(v, i / opening_rate) for i, v in enumerate(visitors)))
    phases["opening_s"] = _now() - started
    say(f"  {len(visitors)} opening messages (tickets) stored in {phases['opening_s']:.1f} s")

    started = _now()
    shares: list[list[int]] = [[] for _ in agents]
    for i, person in enumerate(people):
        shares[i % len(agents)].append(person["conversation"])
    await asyncio.gather(*(agent.watch(share) for agent, share in zip(agents, shares, strict=True)))
    phases["watch_s"] = _now() - started

    rng = random.Random(1)  # noqa: S311 - spreading load, not security
    started = _now()

    async def talk(visitor: Visitor) -> None:
        moments = sorted(rng.uniform(0, duration) for _ in range(messages))
        begun = _now()
        for number, moment in enumerate(moments, start=1):
            await asyncio.sleep(max(0.0, moment - (_now() - begun)))
            await visitor.say(number)

    await asyncio.gather(*(talk(v) for v in visitors))
    phases["exchange_s"] = _now() - started
    deadline = _now() + grace
    expected = len(visitors) * (messages + 1)
    while _now() < deadline and (
        len(stats.seen_by_visitor) < len(stats.replied)
        or len(stats.seen_by_agent) < expected - len(visitors)
    ):
        await asyncio.sleep(0.2)
    for client in [*visitors, *agents]:
        await client.ws.close()
    return stats, phases


def summarise(
    stats: Stats,
    phases: dict[str, float],
    *,
    visitors: int,
    agents: int,
    servers: int,
    messages: int,
) -> dict[str, Any]:
    timed = {k for k in stats.acked if not k.endswith("-0")}  # the opening message is not timed
    result = {
        "workload": "chat load",
        "visitors": visitors,
        "agents": agents,
        "servers": servers,
        "messages": len(timed),
        "replies": len(stats.replied),
        "connect_p50_ms": percentile(stats.connect_ms, 0.5),
        "connect_p99_ms": percentile(stats.connect_ms, 0.99),
        "ack_p50_ms": percentile(stats.ack_ms, 0.5),
        "ack_p99_ms": percentile(stats.ack_ms, 0.99),
        "to_agent_p50_ms": percentile(stats.to_agent_ms, 0.5),
        "to_agent_p99_ms": percentile(stats.to_agent_ms, 0.99),
        "to_visitor_p50_ms": percentile(stats.to_visitor_ms, 0.5),
        "to_visitor_p99_ms": percentile(stats.to_visitor_ms, 0.99),
        "lost_to_agent": len(timed - stats.seen_by_agent),
        "lost_to_visitor": len(stats.reply_acked - stats.seen_by_visitor),
        "unanswered": len(set(stats.replied) - stats.reply_acked),
        "unacked": visitors * (messages + 1) - len(stats.acked),
        "errors": len(stats.errors),
        "exchange_rate_msgs_per_s": (len(timed) + len(stats.reply_acked))
        / max(phases.get("exchange_s", 1.0), 1e-9),
        **{k: round(v, 2) for k, v in phases.items()},
    }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--visitors", type=int, default=1000)
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--messages", type=int, default=1, help="timed messages per visitor")
    parser.add_argument(
        "--duration",
        type=float,
        default=90.0,
        help="seconds over which the timed messages are spread",
    )
    parser.add_argument(
        "--opening-rate", type=float, default=25.0, help="opening messages (new tickets) per second"
    )
    parser.add_argument("--grace", type=float, default=30.0)
    parser.add_argument("--servers", type=int, default=2, help="daphne processes to start")
    parser.add_argument(
        "--url",
        action="append",
        default=[],
        help="host:port of a running server (repeatable); none: start daphne",
    )
    args = parser.parse_args(argv)

    setup_django()
    say(f"chat load: preparing {args.visitors} visitors and {args.agents} agents")
    people, cookies = prepare(args.visitors, args.agents)

    def go(urls: list[str]) -> tuple[Stats, dict[str, float]]:
        say(f"  servers: {', '.join(urls)}")
        return asyncio.run(
            run_load(
                urls,
                people,
                cookies,
                messages=args.messages,
                duration=args.duration,
                grace=args.grace,
                opening_rate=args.opening_rate,
            )
        )

    if args.url:
        stats, phases = go(args.url)
        servers = len(args.url)
    else:
        with daphne(args.servers) as urls:
            stats, phases = go(urls)
        servers = args.servers
    result = summarise(
        stats,
        phases,
        visitors=args.visitors,
        agents=args.agents,
        servers=servers,
        messages=args.messages,
    )
    for error in stats.errors[:5]:
        say(f"  error: {error}")
    say(
        f"  visitor → agent p50 {result['to_agent_p50_ms']:.0f} ms, p99 "
        f"{result['to_agent_p99_ms']:.0f} ms; agent → visitor p50 "
        f"{result['to_visitor_p50_ms']:.0f} ms, p99 {result['to_visitor_p99_ms']:.0f} ms; "
        f"lost {result['lost_to_agent']} + {result['lost_to_visitor']}"
    )
    emit(**result)
    return 0 if result["lost_to_agent"] + result["lost_to_visitor"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

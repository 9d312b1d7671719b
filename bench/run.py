"""`make bench`: every workload, one table of figures and ratios, and bench/out/latest.json.

Workloads, each in its own process on its own scratch database of the server DATABASE_URL
points at (the database in DATABASE_URL itself is never touched):

- email ingest (`bench.ingest`): the shared corpus through the real pipeline, messages/s, and
  the ratio to the stdlib's parse-only rate of the same bytes. Database `helpdesk_bench_ingest`,
  made afresh each run.
- bulk seed: `seed_demo --tickets N` (PostgreSQL COPY), tickets/s.
- agent queue (`bench.queue`): `/desk/`, a filtered and sorted variant, page 2, and the ticket
  list API, as an agent and as a supervisor: p50/p95 ms and queries per request. With 10k
  tickets always (`helpdesk_bench_q10k`, made afresh); with 1M tickets only with `--full` or
  BENCH_FULL=1 (`helpdesk_bench_q1m`, or BENCH_DB_1M), kept between runs because seeding it
  takes minutes: it is reused when it holds a complete seed of that size (`--fresh` reseeds).
  The 1M figures' ratio is against the same request at 10k.
- search (`bench.search`): the desk queue with `?q=` and `/api/v1/search/`, a dozen kinds of
  query, as an agent and as a supervisor: p50/p95 ms against the 100 ms p95 target. On
  `--search-tickets` tickets (100k by default, `helpdesk_bench_s100k` or BENCH_DB_SEARCH, kept
  between runs) and, with `--full`, on the 1M database too.
- chat load (`bench.chat_load`): `--chat-visitors` visitor websockets (1,000 by default) talking
  to agents through daphne processes of the real application: p50/p99 delivery latency each
  way and messages lost (acknowledged but never seen by the other side). Database
  `helpdesk_bench_chat`, made afresh each run.

Workload processes use a Redis database of their own (BENCH_REDIS_URL, default: REDIS_URL's
server, database 15), a throwaway media folder and an in-memory email backend, so nothing
they do reaches a running desk or leaves the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from bench.common import RESULT_PREFIX, ROOT, corpus_dir, say

OUT_DIR = ROOT / "bench" / "out"
INGEST_DB = "helpdesk_bench_ingest"
Q10K_DB = "helpdesk_bench_q10k"
Q1M_DB = "helpdesk_bench_q1m"
CHAT_DB = "helpdesk_bench_chat"
SEARCH_P95_TARGET_MS = 100.0
SEED_MARK = "helpdesk bench seed: {tickets} tickets, seed {seed}"


@dataclass(frozen=True)
class Server:
    """The PostgreSQL server of DATABASE_URL, where the scratch databases are made."""

    url: str
    host: str  # a socket directory when the embedded server is used

    @classmethod
    def from_env(cls) -> Server:
        url = os.environ.get("DATABASE_URL", "")
        if not url:
            raise SystemExit(
                "DATABASE_URL is not set: run `make bench` "
                "(python -m helpdesk.launch bench) or set it yourself."
            )
        return cls(url, os.environ.get("DATABASE_HOST", ""))

    def url_for(self, name: str) -> str:
        parts = urlsplit(self.url)
        return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))

    def admin(self) -> Any:
        import psycopg

        parts = urlsplit(self.url)
        return psycopg.connect(
            host=self.host or parts.hostname or "localhost",
            port=parts.port or 5432,
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password or ""),
            dbname="postgres",
            autocommit=True,
        )

    def recreate(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')

    def ensure(self, name: str) -> None:
        with self.admin() as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                conn.execute(f'CREATE DATABASE "{name}"')

    def comment(self, name: str) -> str:
        with self.admin() as conn:
            row = conn.execute(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                [name],
            ).fetchone()
        return (row[0] or "") if row else ""

    def set_comment(self, name: str, text: str) -> None:
        with self.admin() as conn:
            conn.execute(f'COMMENT ON DATABASE "{name}" IS ' + "'" + text.replace("'", "''") + "'")


def bench_redis_url() -> str:
    if os.environ.get("BENCH_REDIS_URL"):
        return os.environ["BENCH_REDIS_URL"]
    parts = urlsplit(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    if parts.scheme == "unix":
        return urlunsplit((parts.scheme, parts.netloc, parts.path, "db=15", ""))
    return urlunsplit((parts.scheme, parts.netloc, "/15", "", ""))


class Runner:
    def __init__(self, server: Server, scratch: Path) -> None:
        self.server = server
        self.scratch = scratch  # attachments and static files of the workload processes
        (scratch / "media").mkdir()
        (scratch / "static").mkdir()
        self.results: list[dict[str, Any]] = []

    def env(self, database: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "DATABASE_URL": self.server.url_for(database),
                "DATABASE_HOST": self.server.host,
                "REDIS_URL": bench_redis_url(),
                "DEBUG": "1",
                "MEDIA_ROOT": str(self.scratch / "media"),
                # an existing folder, or whitenoise warns on every start
                "STATIC_ROOT": str(self.scratch / "static"),
                "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
                "CHANNELS_PREFIX": "asgi_bench",
                "CACHE_PREFIX": "hd_bench",
                "LOG_LEVEL": "WARNING",
                "HELPDESK_CORPUS_DIR": str(corpus_dir()),
                "PYTHONPATH": str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
            }
        )
        return env

    def run(self, args: list[str], database: str, *, workload: str) -> list[str] | None:
        """Run one step, echo its output as it comes, collect its result lines. A failed step
        becomes a row of the table (the other workloads still run) and returns None."""
        say(f"$ {' '.join(args)}   [{database}]")
        proc = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=self.env(database),
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            line = line.rstrip("\n")
            if line.startswith(RESULT_PREFIX):
                self.results.append(json.loads(line[len(RESULT_PREFIX) :]))
            else:
                say(f"  | {line}")
            lines.append(line)
        if proc.wait() != 0:
            self.results.append(
                {
                    "workload": workload,
                    "skipped": f"`{' '.join(args)}` failed (exit {proc.returncode}), see above",
                }
            )
            return None
        return lines

    def migrate(self, database: str, *, workload: str) -> bool:
        args = ["manage.py", "migrate", "--noinput", "-v", "0"]
        return self.run(args, database, workload=workload) is not None

    def seed(self, database: str, tickets: int, label: str, *, fresh: bool) -> bool:
        """A database holding the base and `tickets` bulk tickets; False when that failed."""
        workload = f"bulk seed ({label})"
        mark = SEED_MARK.format(tickets=tickets, seed=1)
        if not fresh:
            self.server.ensure(database)
            if self.server.comment(database) == mark:
                say(f"{database}: reusing its {tickets:,}-ticket seed (--fresh to reseed)")
                self.results.append({"workload": workload, "reused": True, "tickets": tickets})
                # keep its schema current; the data stays
                return self.migrate(database, workload=workload)
        self.server.recreate(database)
        if not self.migrate(database, workload=workload):
            return False
        started = time.perf_counter()
        args = ["manage.py", "seed_demo", "--tickets", str(tickets), "--seed", "1"]
        lines = self.run(args, database, workload=workload)
        if lines is None:
            return False
        seconds = time.perf_counter() - started
        loaded = next(
            (
                float(line.split(" loaded in ")[1].split()[0])
                for line in lines
                if " loaded in " in line
            ),
            seconds,
        )
        self.server.set_comment(database, mark)
        self.results.append(
            {
                "workload": workload,
                "tickets": tickets,
                "seconds": loaded,
                "rate": tickets / loaded,
                "process_seconds": seconds,
            }
        )
        return True


def _fmt_rate(value: float, unit: str) -> str:
    return f"{value:,.0f} {unit}" if value >= 100 else f"{value:,.1f} {unit}"


def _rate_and_spread(r: dict[str, Any]) -> str:
    return (
        f"{_fmt_rate(r['rate'], 'msg/s')}; p95 {r['p95_ms']:.1f} ms; slowest "
        f"{r['slowest_ms'] / 1000:.1f} s ({r['slowest_file']})"
    )


def _chat_rows(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    name = f"chat load ({r['visitors']:,} visitors, {r['agents']} agents, {r['servers']} servers)"
    lost = r["lost_to_agent"] + r["lost_to_visitor"]
    return [
        (
            f"{name}, visitor → agent",
            f"p50 {r['to_agent_p50_ms']:.0f} ms, p99 {r['to_agent_p99_ms']:.0f} ms",
            f"{r['messages']:,} messages",
        ),
        (
            f"{name}, agent → visitor",
            f"p50 {r['to_visitor_p50_ms']:.0f} ms, p99 {r['to_visitor_p99_ms']:.0f} ms",
            f"{r['replies']:,} replies",
        ),
        (
            f"{name}, lost",
            f"{lost} lost ({r['lost_to_agent']} to agents, {r['lost_to_visitor']} to visitors), "
            f"{r['unacked']} unacknowledged, {r['errors']} errors",
            f"{r['exchange_rate_msgs_per_s']:.1f} msg/s exchanged",
        ),
    ]


def table(results: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    by_key = {(r.get("who"), r.get("request"), r.get("size")): r for r in results if "p50_ms" in r}
    parse = next((r for r in results if r.get("workload") == "email parse only"), None)
    for r in results:
        name = r["workload"]
        if r.get("who"):
            name = f"{name}, {r['who']}"
        if "skipped" in r:
            rows.append((name, f"skipped: {r['skipped']}", ""))
        elif r["workload"] == "chat load":
            rows.extend(_chat_rows(r))
        elif name == "email parse only":
            rows.append(
                (f"{name} (stdlib, {r['messages']} msgs)", _rate_and_spread(r), "1 (baseline)")
            )
            rows.append((f"{name}, p50 per message", f"{r['p50_ms']:.2f} ms", "1 (baseline)"))
        elif r["workload"] == "email ingest":
            crashes = f", {r['crashes']} crashed" if r.get("crashes") else ""
            outcome = ", ".join(f"{v} {k}" for k, v in sorted(r.get("outcome", {}).items()))
            ratio = f"{r['rate'] / parse['rate']:.3f} x parse" if parse else ""
            rows.append(
                (f"{name} ({r['messages']} msgs: {outcome}{crashes})", _rate_and_spread(r), ratio)
            )
            p50_ratio = f"{r['p50_ms'] / parse['p50_ms']:.0f} x parse" if parse else ""
            rows.append((f"{name}, p50 per message", f"{r['p50_ms']:.1f} ms", p50_ratio))
        elif r["workload"].startswith("bulk seed"):
            if r.get("reused"):
                rows.append((name, f"reused existing {r['tickets']:,}-ticket database", ""))
            else:
                rows.append(
                    (
                        name,
                        _fmt_rate(r["rate"], "tickets/s"),
                        f"{r['seconds']:.1f} s for {r['tickets']:,}",
                    )
                )
        elif "p50_ms" in r:
            figure = f"p50 {r['p50_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms, {r['queries']} queries"
            if r.get("status") != 200:
                figure += f", HTTP {r['status']}"
            base = by_key.get((r["who"], r["request"], "10k"))
            ratio = (
                "base"
                if r["size"] == "10k"
                else (f"{r['p50_ms'] / base['p50_ms']:.2f} x 10k" if base else "")
            )
            if r["request"].startswith("search"):
                ratio = f"{r['p95_ms'] / SEARCH_P95_TARGET_MS:.2f} x the 100 ms p95 target"
            rows.append((name, figure, ratio))
    return rows


def print_table(rows: list[tuple[str, str, str]]) -> None:
    headers = ("workload", "figure", "ratio")
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line)
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def _label(tickets: int) -> str:
    if tickets >= 1_000_000 and tickets % 1_000_000 == 0:
        return f"{tickets // 1_000_000}M"
    return f"{tickets // 1000}k" if tickets >= 1000 else str(tickets)


def _search_db(args: argparse.Namespace) -> str:
    if args.search_tickets == 10_000:
        return Q10K_DB
    return os.environ.get(
        "BENCH_DB_SEARCH", f"helpdesk_bench_s{_label(args.search_tickets).lower()}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="also run the 1M-ticket queue (minutes to seed the first time)",
    )
    parser.add_argument("--fresh", action="store_true", help="reseed the 1M database")
    parser.add_argument("--messages", type=int, default=2000, help="email ingest volume")
    parser.add_argument("--requests", type=int, default=30, help="timed requests per URL")
    parser.add_argument(
        "--chat-visitors", type=int, default=1000, help="concurrent chat visitor sockets"
    )
    parser.add_argument("--only", choices=("ingest", "queue", "search", "chat"), default=None)
    parser.add_argument(
        "--search-tickets",
        type=int,
        default=100_000,
        help="size of the search database (besides 1M with --full); kept between runs",
    )
    args = parser.parse_args(argv)
    full = args.full or os.environ.get("BENCH_FULL") == "1"

    server = Server.from_env()
    started = datetime.now(UTC)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="helpdesk-bench-") as scratch:
        runner = Runner(server, Path(scratch))
        if args.only in (None, "ingest"):
            server.recreate(INGEST_DB)
            if runner.migrate(INGEST_DB, workload="email ingest"):
                ingest = ["-m", "bench.ingest", "--messages", str(args.messages)]
                runner.run(ingest, INGEST_DB, workload="email ingest")
        sizes = [("10k", 10_000, Q10K_DB, True)]
        if full:
            sizes.append(("1M", 1_000_000, os.environ.get("BENCH_DB_1M", Q1M_DB), args.fresh))
        if args.only in (None, "queue"):
            for label, tickets, database, fresh in sizes:
                if not runner.seed(database, tickets, label, fresh=fresh):
                    continue
                queue = ["-m", "bench.queue", "--label", label, "--requests", str(args.requests)]
                runner.run(queue, database, workload=f"agent queue ({label})")
        if args.only in (None, "search"):
            search_sizes = [(_label(args.search_tickets), args.search_tickets, _search_db(args))]
            if full:
                search_sizes.append(sizes[-1][:3])
            for label, tickets, database in search_sizes:
                if not runner.seed(database, tickets, label, fresh=False):
                    continue
                search = ["-m", "bench.search", "--label", label, "--requests", str(args.requests)]
                runner.run(search, database, workload=f"search ({label})")
        if args.only in (None, "chat"):
            server.recreate(CHAT_DB)
            if runner.migrate(CHAT_DB, workload="chat load"):
                chat = ["-m", "bench.chat_load", "--visitors", str(args.chat_visitors)]
                runner.run(chat, CHAT_DB, workload="chat load")
    ran = [label for label, *_ in sizes] if args.only in (None, "queue") else []
    rows = table(runner.results)
    print()
    print_table(rows)
    note = (
        "queue sizes run: "
        + (", ".join(ran) or "none")
        + ("" if full else "  (1M only with --full or BENCH_FULL=1)")
    )
    load_after = os.getloadavg()
    print(
        f"\n{note}\nmachine: {os.cpu_count()} CPUs, load average {load_before[0]:.1f} before, "
        f"{load_after[0]:.1f} after"
    )
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "latest.json").write_text(
        json.dumps(
            {
                "started": started.isoformat(),
                "finished": datetime.now(UTC).isoformat(),
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "load_before": load_before,
                    "load_after": load_after,
                },
                "queue_sizes": ran,
                "results": runner.results,
                "table": [
                    dict(zip(("workload", "figure", "ratio"), row, strict=True)) for row in rows
                ],
            },
            indent=2,
            default=str,
        )
        + "\n"
    )
    print(f"written: {OUT_DIR / 'latest.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

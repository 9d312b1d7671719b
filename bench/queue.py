"""Server time of the agent queue page and the ticket list API on a seeded database.

Logged in as the agent ada (Support and Technical) and as the supervisor sue, each request is
made a few times to warm up, then `--requests` times through Django's test client (the whole
server side: middleware, view, queries, template), reporting p50/p95 in milliseconds and the
number of SQL queries one request makes.

Run by `bench.run` against a database seeded with `seed_demo --tickets N`; prints
`BENCH {json}` result lines.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from bench.common import emit, percentile, say, setup_django

API_LIST = "/api/v1/tickets/"


def _requests() -> list[tuple[str, str | None, str]]:
    """(name, path or None when the view does not exist yet, why not)."""
    from django.urls import NoReverseMatch, reverse

    try:
        queue = reverse("desk:queue")
    except NoReverseMatch as exc:
        missing = f"no URL named desk:queue ({exc})"
        rows: list[tuple[str, str | None, str]] = [
            ("queue", None, missing),
            ("queue ?status=open&sort=-priority", None, missing),
            ("queue ?page=2", None, missing),
        ]
    else:
        rows = [
            ("queue", queue, ""),
            ("queue ?status=open&sort=-priority", f"{queue}?status=open&sort=-priority", ""),
            ("queue ?page=2", f"{queue}?page=2", ""),
        ]
    rows.append(("api list", API_LIST, ""))
    return rows


def measure(client: Any, path: str, *, warmup: int, requests: int) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    status = 0
    for _ in range(warmup):
        status = client.get(path).status_code
    with CaptureQueriesContext(connection) as captured:
        status = client.get(path).status_code
    # read now: the next request's request_started signal clears the log it points into
    queries = len(captured.captured_queries)
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path)
        timings.append((time.perf_counter() - started) * 1000)
        status = response.status_code
    return {
        "status": status,
        "p50_ms": percentile(timings, 0.5),
        "p95_ms": percentile(timings, 0.95),
        "queries": queries,
        "requests": requests,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--label", required=True, help="e.g. 10k or 1M")
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args(argv)

    setup_django()
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.test.utils import setup_test_environment

    from tickets.access import visible_tickets
    from tickets.models import Ticket

    # lets the test client's "testserver" host in, keeps mail local, and times the views as
    # production runs them (DEBUG off: no query log)
    setup_test_environment(debug=False)
    users = get_user_model().objects
    personas = [
        ("agent", users.get(email="ada@demo.helpdesk")),
        ("supervisor", users.get(email="sue@demo.helpdesk")),
    ]
    total = Ticket.objects.count()
    for who, user in personas:
        client = Client()
        client.force_login(user)
        visible = visible_tickets(user).count()
        active = visible_tickets(user).filter(status__in=Ticket.ACTIVE_STATUSES).count()
        for name, path, why_not in _requests():
            row = {
                "workload": f"{name} ({args.label})",
                "size": args.label,
                "who": who,
                "request": name,
                "path": path,
                "tickets": total,
                "visible": visible,
                "active_visible": active,
            }
            if path is None:
                emit(**row, skipped=why_not)
                continue
            row.update(measure(client, path, warmup=args.warmup, requests=args.requests))
            say(
                f"{args.label} {who:<10} {name:<36} p50 {row['p50_ms']:8.1f} ms  "
                f"p95 {row['p95_ms']:8.1f} ms  {row['queries']:3} queries  HTTP {row['status']}"
            )
            emit(**row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

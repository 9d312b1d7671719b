"""Server time of ticket search on a seeded database: the desk's queue with `?q=` and the
search API, as the agent ada (Support and Technical) and the supervisor sue.

Each query is made a few times to warm up, then `--requests` times through Django's test
client (middleware, view, queries, template). The terms come from the seeded data itself: a
word of every tenth ticket, a word of one problem's body, a contact's surname, a contact's exact
email, a part of an email (trigram), a ticket number, and operators with and without words.
Reports p50/p95 in milliseconds and the queries of one request. Prints `BENCH {json}` lines.
"""

from __future__ import annotations

import argparse
from typing import Any

from bench.common import emit, say, setup_django
from bench.queue import measure

API_SEARCH = "/api/v1/search/"


def _terms() -> list[tuple[str, str]]:
    """(name, query) pairs read from the database, so they hit at any size."""
    from tickets.models import Identity, Ticket

    ticket = Ticket.objects.order_by("-id").select_related("contact").first()
    if ticket is None:
        raise SystemExit("no tickets: seed the database first (seed_demo --tickets N)")
    email = (
        Identity.objects.filter(contact_id=ticket.contact_id, kind=Identity.Kind.EMAIL)
        .values_list("value", flat=True)
        .first()
        or "nobody@example.com"
    )
    surname = (ticket.contact.name.split() or ["Smith"])[-1]
    local = email.split("@")[0]
    return [
        ("common word", "refund"),
        ("two words", "invoice charged"),
        ("phrase", '"password reset"'),
        ("surname", surname),
        ("exact email", email),
        ("part of an email", local[: max(4, len(local) - 3)]),
        ("ticket number", f"#{ticket.number}"),
        ("word + operators", "password status:open priority:normal"),
        ("from: + created>", f"from:{email} created>2020-01-01"),
        ("operators only", "status:pending channel:email"),
        ("no match", "xylophonequartz"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--label", required=True, help="e.g. 100k or 1M")
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args(argv)

    setup_django()
    from urllib.parse import urlencode

    from django.contrib.auth import get_user_model
    from django.db.models import Count
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import reverse

    from tickets.models import Message, SearchDocument, Ticket

    setup_test_environment(debug=False)
    users = get_user_model().objects
    personas = [
        ("agent", users.get(email="ada@demo.helpdesk")),
        ("supervisor", users.get(email="sue@demo.helpdesk")),
    ]
    total = Ticket.objects.count()
    messages = Message.objects.aggregate(n=Count("id"))["n"]
    documents = SearchDocument.objects.count()
    if documents < total:
        from tickets.search.index import documents_rebuild

        say(f"{total - documents:,} tickets have no search document yet: building them")
        documents = documents + documents_rebuild(missing_only=True)
    queue = reverse("desk:queue")
    for who, user in personas:
        client = Client()
        client.force_login(user)
        for name, text in _terms():
            for surface, base in (("desk", queue), ("api", API_SEARCH)):
                path = f"{base}?{urlencode({'q': text})}"
                row: dict[str, Any] = {
                    "workload": f"search {surface}: {name} ({args.label})",
                    "size": args.label,
                    "who": who,
                    "request": f"search {surface}: {name}",
                    "path": path,
                    "tickets": total,
                    "messages": messages,
                    "documents": documents,
                }
                row.update(measure(client, path, warmup=args.warmup, requests=args.requests))
                say(
                    f"{args.label} {who:<10} {surface:<4} {name:<18} p50 {row['p50_ms']:7.1f} ms"
                    f"  p95 {row['p95_ms']:7.1f} ms  {row['queries']:3} queries  "
                    f"HTTP {row['status']}"
                )
                emit(**row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

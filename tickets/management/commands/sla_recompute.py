"""`python manage.py sla_recompute [--all] [--ticket N ...]`: replay tickets' SLA and store it.

Without options every open ticket is replayed; `--all` takes solved and closed ones too (after
importing history, say). Safe to run at any time, as often as wanted: the work is idempotent.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tickets.models import Ticket
from tickets.sla_services import sla_recompute_tickets, ticket_sla_recompute


class Command(BaseCommand):
    help = "Replay the SLA of every open ticket (or all, or the ones named) and store it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--all", action="store_true", help="Solved and closed tickets too.")
        parser.add_argument(
            "--ticket", type=int, action="append", default=[], help="A ticket number (repeatable)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        numbers: list[int] = options["ticket"]
        if numbers:
            found = dict(Ticket.objects.filter(number__in=numbers).values_list("number", "pk"))
            missing = [n for n in numbers if n not in found]
            if missing:
                raise CommandError(f"No ticket numbered {', '.join(map(str, missing))}.")
            for number in numbers:
                outcome = ticket_sla_recompute(ticket_id=found[number])
                self.stdout.write(
                    f"#{number}: {outcome.achieved} achieved, {outcome.breached} breached"
                )
            return
        count = sla_recompute_tickets(only_open=not options["all"])
        self.stdout.write(f"{count} tickets replayed in {time.monotonic() - started:.1f} s")

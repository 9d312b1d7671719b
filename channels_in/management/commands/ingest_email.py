"""Feed raw email files through the real pipeline: store raw, then the ingest task."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from channels_in.models import ChannelAccount, ChannelKind, InboundMessage
from channels_in.services import inbound_queue, inbound_store
from channels_in.tasks import process_inbound


class Command(BaseCommand):
    help = "Ingest .eml files (files, folders, or - for standard input) as inbound email."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", help=".eml file, folder (recursive), or -")
        parser.add_argument("--account", help="Email channel account name (default: the first).")
        parser.add_argument(
            "--queue",
            action="store_true",
            help="Queue processing to the Celery workers instead of running it here.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        account = self._account(options.get("account"))
        totals: Counter[str] = Counter()
        for label, raw in self._inputs(options["paths"]):
            if len(raw) > settings.HELPDESK_MAX_INBOUND_BYTES:
                self.stdout.write(f"{label}: rejected: {len(raw)} bytes is over the size limit")
                totals["rejected"] += 1
                continue
            # Keyed by the bytes' SHA-256: the same bytes twice are stored once, while another copy
            # of a known Message-ID is stored and then recognised as a duplicate when threaded.
            stored = inbound_store(account=account, external_id="", raw=raw, process=False)
            if not stored.created and stored.inbound.status != InboundMessage.Status.RECEIVED:
                totals["duplicate"] += 1
                self.stdout.write(
                    f"{label}: duplicate of inbound #{stored.inbound.pk}, "
                    f"{_outcome(stored.inbound)}"
                )
                continue
            if options["queue"]:
                inbound_queue(inbound=stored.inbound)
                totals["queued"] += 1
                self.stdout.write(f"{label}: queued as inbound #{stored.inbound.pk}")
                continue
            process_inbound.apply(args=[stored.inbound.pk], throw=True)
            stored.inbound.refresh_from_db()
            totals[stored.inbound.status] += 1
            self.stdout.write(f"{label}: {_outcome(stored.inbound)}")
        summary = ", ".join(f"{count} {name}" for name, count in sorted(totals.items()))
        self.stdout.write(f"total: {sum(totals.values())} ({summary or 'nothing read'})")

    def _account(self, name: str | None) -> ChannelAccount:
        qs = ChannelAccount.objects.filter(kind=ChannelKind.EMAIL)
        if name:
            account = qs.filter(name=name).first()
            if account is None:
                raise CommandError(f"no email account named {name!r}")
            return account
        account = qs.filter(active=True).order_by("id").first()
        if account is None:
            account = ChannelAccount.objects.create(
                kind=ChannelKind.EMAIL, name="email", address=settings.DEFAULT_FROM_EMAIL
            )
            self.stderr.write(f"created email account 'email' <{account.address}>")
        return account

    def _inputs(self, paths: list[str]) -> Iterator[tuple[str, bytes]]:
        for item in paths:
            if item == "-":
                yield "<stdin>", sys.stdin.buffer.read()
                continue
            path = Path(item)
            if path.is_dir():
                for child in sorted(p for p in path.rglob("*") if p.is_file()):
                    yield str(child), child.read_bytes()
            elif path.is_file():
                yield str(path), path.read_bytes()
            else:
                raise CommandError(f"{item}: no such file or folder")


def _outcome(inbound: InboundMessage) -> str:
    if inbound.status == InboundMessage.Status.PROCESSED:
        return f"ticket #{inbound.ticket_number} ({inbound.reason})"
    return f"{inbound.status}: {inbound.reason}"

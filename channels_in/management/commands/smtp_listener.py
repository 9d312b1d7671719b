"""Run the inbound SMTP (or LMTP) listener until stopped (SIGINT/SIGTERM)."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from channels_in.email.smtp import InboundController


class Command(BaseCommand):
    help = "Accept email by SMTP or LMTP and store it for the desk (250 only after commit)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on.")
        parser.add_argument("--port", type=int, default=2525, help="Port (default 2525).")
        parser.add_argument("--lmtp", action="store_true", help="Speak LMTP instead of SMTP.")
        parser.add_argument(
            "--max-bytes",
            type=int,
            default=settings.HELPDESK_MAX_INBOUND_BYTES,
            help="Largest message accepted (552 above it).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        controller = InboundController(
            hostname=options["host"],
            port=options["port"],
            lmtp=options["lmtp"],
            max_bytes=options["max_bytes"],
        )
        stop = threading.Event()

        def on_signal(signum: int, frame: Any) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        controller.start()
        protocol = "LMTP" if options["lmtp"] else "SMTP"
        self.stdout.write(
            f"{protocol} listener on {options['host']}:{options['port']}", ending="\n"
        )
        self.stdout.flush()
        try:
            stop.wait()
        finally:
            controller.stop()
            self.stdout.write("stopped")

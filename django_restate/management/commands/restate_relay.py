"""``python manage.py restate_relay``: deliver the outbox's pending rows, for WSGI deployments or a worker.

The ASGI application runs a relay of its own (``RESTATE["OUTBOX_RELAY"]``); this command
is for projects served without one, or to keep delivery off the web processes (then set
``OUTBOX_RELAY`` to False). Any number of relays may run at once. SIGTERM / Ctrl-C stop it
after the round in progress.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...outbox.relay import Relay, outbox_databases


class Command(BaseCommand):
    help = "Deliver the transactional outbox's pending sends to Restate, until stopped (or once with --once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--database",
            action="append",
            dest="databases",
            help="A database whose outbox to deliver (repeat for several). Default: every one that has it.",
        )
        parser.add_argument("--once", action="store_true", help="Deliver what is due now, then exit.")
        parser.add_argument("--batch-size", type=int, default=200, help="Rows claimed per round (default 200).")
        parser.add_argument("--concurrency", type=int, default=32, help="Sends in flight at once (default 32).")
        parser.add_argument(
            "--poll-interval", type=float, default=None, help="Seconds between looks when idle (OUTBOX_POLL_INTERVAL)."
        )
        parser.add_argument("--name", default=None, help="This relay's name in the outbox rows it claims.")

    def handle(self, *args: Any, **options: Any) -> None:
        databases = options["databases"]
        known = outbox_databases()
        for alias in databases or []:
            if alias not in known:
                raise CommandError(f"Database {alias!r} has no outbox (databases with one: {', '.join(known)}).")
        relay = Relay(
            databases,
            batch_size=options["batch_size"],
            concurrency=options["concurrency"],
            poll_interval=options["poll_interval"],
            name=options["name"],
        )
        if options["once"]:
            done = asyncio.run(relay.drain())
            relay.close()
            self.stdout.write(
                f"Delivered {done.delivered}, failed {done.failed}, to retry {done.retried}"
                + (" (Restate is unreachable)" if done.down else "")
            )
            if done.down:
                raise CommandError("Restate is unreachable; the rows stay in the outbox.")
            return
        self.stdout.write(f"Outbox relay {relay.name} delivering from {', '.join(relay.databases)}")
        asyncio.run(self._run(relay))

    async def _run(self, relay: Relay) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, relay.request_stop)
        await relay.run()
        relay.close()

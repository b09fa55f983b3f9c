"""The relay: delivers the outbox rows that were not sent at commit time.

One runs inside the ASGI application by default (:func:`start_relay`, called from
the lifespan by :mod:`django_restate.asgi`), and ``python manage.py restate_relay``
runs one on its own (WSGI deployments, a dedicated worker). Any number may run at
once, one per Django replica: each round *claims* the rows it sends, so two relays
do not send the same row.

- PostgreSQL (and other databases with ``SELECT ... FOR UPDATE SKIP LOCKED``): a
  relay selects due rows with ``SKIP LOCKED`` and stamps them ``claimed_until`` in the
  same transaction; another relay skips the locked rows and, after the commit, sees
  the claim.
- SQLite: one ``UPDATE ... WHERE id IN (due rows) AND the row is not claimed``. SQLite
  runs one writing statement at a time, so a row matches for one relay only.

A claim is a lease (:data:`CLAIM_LEASE`): if its relay dies mid-round, the rows are
due again when it runs out. A repeat send is harmless anyway: every row carries its
idempotency key (a workflow run, its workflow id).

While Restate cannot be reached the relay sends one row per round (a probe) and waits
longer each time, up to :data:`MAX_BACKOFF`; it never busy-loops. When the probe gets
through, it sends what is due in batches, ``concurrency`` at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from django.db import DatabaseError, connections, router, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from .. import steps
from ..conf import restate_settings
from .delivery import Outcome, adeliver, deliver, row_request, settle
from .models import OutboxMessage
from .settings import duration, overdue_cutoff, poll_interval, retention

logger = logging.getLogger("django_restate.outbox")

T = TypeVar("T")

#: How long a relay holds the rows it claimed (longer than a send's timeout).
CLAIM_LEASE = timedelta(seconds=60)
#: The longest a relay waits between two probes while Restate is down.
MAX_BACKOFF = 10.0
FIRST_BACKOFF = 0.5
#: How often a relay deletes delivered rows past ``OUTBOX_RETENTION``, and how many per statement.
CLEANUP_EVERY = 60.0
CLEANUP_CHUNK = 1000


@dataclass
class Round:
    """What one pass over the due rows did."""

    claimed: int = 0
    delivered: int = 0
    failed: int = 0
    retried: int = 0
    #: Restate could not be reached (the rows stay due).
    down: bool = False

    def add(self, other: Round) -> None:
        self.claimed += other.claimed
        self.delivered += other.delivered
        self.failed += other.failed
        self.retried += other.retried
        self.down = self.down or other.down


def outbox_databases() -> list[str]:
    """The databases that hold an outbox: those the routers let django_restate's models live on."""
    return [alias for alias in connections if router.allow_migrate_model(alias, OutboxMessage)]


def free(now: datetime) -> Q:
    return Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)


def due(using: str, now: datetime) -> QuerySet[OutboxMessage]:
    """Pending rows a relay should send now: not waiting out a backoff, not overdue, not claimed."""
    return OutboxMessage.objects.using(using).filter(
        free(now),
        status=OutboxMessage.Status.PENDING,
        next_attempt_at__lte=now,
        created_at__gt=overdue_cutoff(now),
    )


def claim(rows: QuerySet[OutboxMessage], name: str, limit: int, now: datetime) -> list[OutboxMessage]:
    """Claim up to ``limit`` of ``rows`` for ``name`` until ``now + CLAIM_LEASE``; the rows it got."""
    using = rows.db
    table = OutboxMessage.objects.using(using)
    until = now + CLAIM_LEASE
    ordered = rows.order_by("next_attempt_at", "pk")
    if connections[using].features.has_select_for_update_skip_locked:
        with transaction.atomic(using=using):
            ids = list(ordered.select_for_update(skip_locked=True).values_list("pk", flat=True)[:limit])
            if not ids:
                return []
            table.filter(pk__in=ids).update(claimed_until=until, claimed_by=name)
    else:
        # One statement, which SQLite runs alone: a row another relay claimed no longer matches ``free``.
        table.filter(free(now), pk__in=ordered.values("pk")[:limit]).update(claimed_until=until, claimed_by=name)
    return list(table.filter(claimed_by=name, claimed_until=until).order_by("next_attempt_at", "pk"))


def release(using: str, rows: Sequence[OutboxMessage], name: str) -> None:
    """Give back rows claimed but not tried (Restate was down): due again for any relay."""
    OutboxMessage.objects.using(using).filter(pk__in=[r.pk for r in rows], claimed_by=name).update(claimed_until=None)


def delete_delivered(using: str, now: datetime | None = None) -> int:
    """Delete delivered rows older than ``OUTBOX_RETENTION`` (none when it is None)."""
    keep = retention()
    if keep is None:
        return 0
    old = OutboxMessage.objects.using(using).filter(
        status=OutboxMessage.Status.DELIVERED, delivered_at__lt=(now or timezone.now()) - keep
    )
    deleted = 0
    while True:
        ids = list(old.values_list("pk", flat=True)[:CLEANUP_CHUNK])
        if not ids:
            return deleted
        deleted += OutboxMessage.objects.using(using).filter(pk__in=ids)._raw_delete(using)
        if len(ids) < CLEANUP_CHUNK:
            return deleted


def send_now(rows: QuerySet[OutboxMessage], name: str = "admin") -> dict[str, int]:
    """Send the given rows at once, overdue or failed ones too (a person decided); count outcomes.

    Delivered rows and rows a relay is sending right now are left alone.
    """
    now = timezone.now()
    claimed = claim(rows.exclude(status=OutboxMessage.Status.DELIVERED).filter(free(now)), name, 1000, now)
    results = [(row, deliver(row_request(row), row.created_at)) for row in claimed]
    settle(rows.db, [(row.pk, outcome, row.attempts) for row, outcome in results])
    counts = {"delivered": 0, "failed": 0, "retry": 0, "down": 0}
    for _, outcome in results:
        counts[outcome.verdict] += 1
    return counts


class Relay:
    """Delivers due outbox rows, round after round, until stopped."""

    def __init__(
        self,
        databases: Sequence[str] | None = None,
        *,
        batch_size: int = 200,
        concurrency: int = 32,
        poll_interval: float | None = None,
        name: str | None = None,
    ) -> None:
        self._databases = list(databases) if databases is not None else None
        self.batch_size = batch_size
        self.concurrency = concurrency
        self._poll_interval = poll_interval
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"[:100]
        # The ORM is sync: the relay's queries run in a thread of their own, with its own connections.
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="restate-outbox-relay")
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_cleanup = 0.0
        self._was_down = False

    @property
    def databases(self) -> list[str]:
        return self._databases if self._databases is not None else outbox_databases()

    @property
    def poll_interval(self) -> float:
        return self._poll_interval if self._poll_interval is not None else poll_interval()

    # -- one round ------------------------------------------------------------------------

    async def run_once(self, now: datetime | None = None) -> Round:
        """Claim and send the rows due now, one batch per database."""
        done = Round()
        for using in self.databases:
            done.add(await self._round(using, now))
        return done

    async def _round(self, using: str, now: datetime | None) -> Round:
        moment = now or timezone.now()
        rows = await self._db(lambda: claim(due(using, moment), self.name, self.batch_size, moment))
        done = Round(claimed=len(rows))
        if not rows:
            return done
        # A probe first: while Restate is down, one attempt per round, not a batch of them.
        first = await adeliver(row_request(rows[0]), rows[0].created_at)
        results: list[tuple[OutboxMessage, Outcome]] = [(rows[0], first)]
        if first.verdict == "down":
            await self._db(lambda: release(using, rows[1:], self.name))
        else:
            gate = asyncio.Semaphore(self.concurrency)

            async def one(row: OutboxMessage) -> tuple[OutboxMessage, Outcome]:
                async with gate:
                    return row, await adeliver(row_request(row), row.created_at)

            results += await asyncio.gather(*(one(row) for row in rows[1:]))
        await self._db(lambda: settle(using, [(row.pk, outcome, row.attempts) for row, outcome in results]))
        for row, outcome in results:
            if outcome.verdict == "delivered":
                done.delivered += 1
            elif outcome.verdict == "failed":
                done.failed += 1
                logger.error("Restate refused %s (outbox message %s): %s", row.target, row.pk, outcome.error)
            elif outcome.verdict == "down":
                done.down = True
            else:
                done.retried += 1
        return done

    # -- until stopped --------------------------------------------------------------------

    async def run(self) -> None:
        """Deliver until :meth:`stop`: at once while there is a backlog, every ``poll_interval``
        when there is none, and with growing pauses while Restate (or the database) is down."""
        backoff = FIRST_BACKOFF
        try:
            while not self._stop.is_set():
                try:
                    done = await self.run_once()
                except DatabaseError as exc:
                    logger.warning("The outbox relay cannot read the outbox, retrying: %s", exc)
                    await self._db(connections.close_all)
                    done = Round(down=True)
                self._note(done)
                if done.down:
                    pause, backoff = backoff, min(backoff * 2, MAX_BACKOFF)
                else:
                    backoff = FIRST_BACKOFF
                    pause = 0.0 if done.claimed >= self.batch_size else self.poll_interval
                    await self._cleanup()
                if pause:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), pause)
                else:
                    await asyncio.sleep(0)
        finally:
            await self._db(connections.close_all)

    async def drain(self, timeout: float = 60.0) -> Round:
        """Rounds until nothing is due (or Restate is down, or ``timeout``): ``restate_relay --once``."""
        total = Round()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = await self.run_once()
            total.add(done)
            if done.down or done.claimed == 0:
                break
        await self._cleanup()
        return total

    def start(self) -> asyncio.Task[None]:
        """Run in the background of the running event loop."""
        self._stop.clear()
        self._task = asyncio.get_running_loop().create_task(self.run(), name=f"restate-relay {self.name}")
        return self._task

    async def stop(self, timeout: float = 5.0) -> None:
        """Finish the round in progress (at most ``timeout`` seconds), then stop."""
        self._stop.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout)
            except TimeoutError:
                logger.warning("The outbox relay did not stop within %ss; its claims expire by themselves", timeout)
            self._task = None
        self._executor.shutdown(wait=False)
        # The process is going away: write down what its commits' sends came to (else relays send
        # those rows again after COMMIT_GRACE, harmlessly but needlessly).
        from .marks import flush

        await asyncio.get_running_loop().run_in_executor(None, flush, timeout)

    def request_stop(self) -> None:
        """Ask :meth:`run` to return after its round (safe from a signal handler)."""
        self._stop.set()

    def close(self) -> None:
        """Close the relay's database connections and its thread (when it was not run with :meth:`start`)."""
        self._executor.submit(connections.close_all).result()
        self._executor.shutdown()

    # -- helpers --------------------------------------------------------------------------

    async def _db(self, func: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, func)

    async def _cleanup(self) -> None:
        if time.monotonic() - self._last_cleanup < CLEANUP_EVERY:
            return
        self._last_cleanup = time.monotonic()
        for using in self.databases:
            deleted = await self._db(lambda u=using: delete_delivered(u))  # type: ignore[misc]
            if deleted:
                logger.info("Deleted %d delivered outbox rows from %r", deleted, using)
            keep = duration(restate_settings.STEP_RETENTION)
            if keep is not None:
                await self._db(lambda u=using, k=keep: steps.delete_expired(u, k))  # type: ignore[misc]

    def _note(self, done: Round) -> None:
        if done.down and not self._was_down:
            logger.warning("Restate is unreachable; the outbox relay keeps the rows and tries again")
        elif self._was_down and not done.down:
            logger.info("Restate is reachable again; the outbox relay is catching up")
        self._was_down = done.down


async def start_relay() -> Relay | None:
    """The ASGI lifespan's relay (``RESTATE["OUTBOX_RELAY"]``): started now, None when turned off."""
    from ..conf import restate_settings

    if not restate_settings.OUTBOX_RELAY:
        return None
    relay = Relay()
    relay.start()
    return relay

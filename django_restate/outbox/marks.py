"""Writing down what the commits' sends came to, from a thread of its own.

The fast path sends right after the commit, in the view's thread; the row is marked
delivered (or not) by this thread, in batches, so the view does not wait for another
transaction. A mark lost with the process is harmless: the row keeps the commit's claim
for ``COMMIT_GRACE``, then a relay sends it again, and its idempotency key makes Restate
answer with the invocation the first send started.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict
from datetime import datetime

from django.db import connections
from django.utils import timezone

from .delivery import Outcome, settle

logger = logging.getLogger("django_restate.outbox")

#: The most marks one transaction writes; how long the thread keeps its connections while idle.
BATCH = 500
IDLE_CLOSE = 1.0

Mark = tuple[str, int, Outcome, datetime]


class Marker:
    """A queue of outcomes and the thread that writes them (started on first use)."""

    def __init__(self) -> None:
        self._queue: queue.Queue[Mark] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def put(self, using: str, pk: int, outcome: Outcome) -> None:
        self._queue.put((using, pk, outcome, timezone.now()))
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._run, name="restate-outbox-marks", daemon=True)
                    self._thread.start()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every outcome put so far is written; False if that took longer than ``timeout``."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=IDLE_CLOSE)
            except queue.Empty:
                connections.close_all()  # idle: let go of this thread's connections
                continue
            batch = [first]
            while len(batch) < BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._write(batch)
            except Exception:
                logger.exception("Writing down %d outbox outcomes failed; relays send those rows again", len(batch))
                connections.close_all()
            finally:
                for _ in batch:
                    self._queue.task_done()

    @staticmethod
    def _write(batch: list[Mark]) -> None:
        by_database: defaultdict[str, list[tuple[int, Outcome, int]]] = defaultdict(list)
        for using, pk, outcome, _ in batch:
            by_database[using].append((pk, outcome, 0))
        for using, results in by_database.items():
            settle(using, results, now=max(at for u, _, _, at in batch if u == using))


marker = Marker()


def flush(timeout: float = 10.0) -> bool:
    """Wait until the outcomes of the sends made at commit so far are in the outbox table."""
    return marker.flush(timeout)

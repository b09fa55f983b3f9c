"""Admission: which invocation a request names, and when it may run.

- A repeated idempotency key names the invocation it named first, as does a workflow id
  for the workflow's run (Restate answers those with the first invocation).
- An exclusive handler, and a workflow's run, holds its key: invocations on a busy key wait
  in the key's inbox, in order. Shared handlers never wait.
- Sends wait in the outbox until the test drains them (from their due time on).
"""

from __future__ import annotations

import itertools
import random
from collections import defaultdict, deque

from ...reflect import HandlerSpec, ServiceSpec
from ..invocation import Invocation

Lock = tuple[str, str]


class Admission:
    def __init__(self) -> None:
        self.invocations: dict[str, Invocation] = {}
        self.locks: dict[Lock, Invocation] = {}
        self.inboxes: defaultdict[Lock, deque[Invocation]] = defaultdict(deque)
        #: Sends waiting for the test to drain them, oldest first.
        self.outbox: list[Invocation] = []
        self._idempotent: dict[tuple[str, str, str, str], Invocation] = {}
        self._workflow_runs: dict[Lock, Invocation] = {}
        self._ids = itertools.count(1)
        # Random per mock, numbered per invocation: unique across mocks, no uuid4 per invocation
        # (nor per mock: it reads os.urandom, a system call per test).
        self._id_prefix = f"inv_1{random.getrandbits(40):010x}"

    def new_id(self) -> str:
        return f"{self._id_prefix}{next(self._ids):06d}"

    def admit(
        self,
        spec: ServiceSpec,
        handler: HandlerSpec,
        key: str,
        buffer: bytes,
        *,
        headers: dict[str, str] | None = None,
        idempotency_key: str | None = None,
        caller: Invocation | None = None,
    ) -> tuple[Invocation, bool]:
        """The invocation a request names: an existing one for a repeated idempotency key or
        workflow id, else a new one. Returns (invocation, is_new)."""
        if spec.kind == "service":
            key = ""
        if idempotency_key is not None:
            existing = self._idempotent.get((spec.name, key, handler.name, idempotency_key))
            if existing is not None:
                return existing, False
        if handler.kind == "workflow" and (spec.name, key) in self._workflow_runs:
            return self._workflow_runs[(spec.name, key)], False
        inv = Invocation(
            id=self.new_id(),
            spec=spec,
            handler=handler,
            key=key,
            input=buffer,
            headers=dict(headers or {}),
            idempotency_key=idempotency_key,
            caller=caller,
        )
        self.invocations[inv.id] = inv
        if idempotency_key is not None:
            self._idempotent[(spec.name, key, handler.name, idempotency_key)] = inv
        if handler.kind == "workflow":
            self._workflow_runs[(spec.name, key)] = inv
        return inv, True

    def by_idempotency_key(self, service: str, key: str, handler: str, idempotency_key: str) -> Invocation | None:
        """The invocation first sent to ``service``/``key``/``handler`` with ``idempotency_key``."""
        return self._idempotent.get((service, key, handler, idempotency_key))

    def workflow_run(self, workflow: str, key: str) -> Invocation | None:
        """The run of workflow ``key``, once it was submitted."""
        return self._workflow_runs.get((workflow, key))

    # -- keys -----------------------------------------------------------------------------

    def acquire(self, inv: Invocation) -> bool:
        """Take ``inv``'s key, or queue it in the key's inbox (False) while another holds it."""
        lock = inv.lock_key
        if lock is None:
            return True
        holder = self.locks.get(lock)
        if holder is not None and holder is not inv:
            inv.status = "inboxed"
            self.inboxes[lock].append(inv)
            return False
        self.locks[lock] = inv
        return True

    def release(self, inv: Invocation) -> Invocation | None:
        """``inv`` finished: hand its key to the next invocation in the inbox, which is returned."""
        lock = inv.lock_key
        if lock is None or self.locks.get(lock) is not inv:
            return None
        del self.locks[lock]
        inbox = self.inboxes.get(lock)
        if not inbox:
            return None
        following = inbox.popleft()
        self.locks[lock] = following
        return following

    def holder(self, inv: Invocation) -> Invocation | None:
        """Who holds the key ``inv`` waits for."""
        lock = inv.lock_key
        return self.locks.get(lock) if lock is not None else None

    # -- sends ----------------------------------------------------------------------------

    def queue(self, inv: Invocation, due_at: float) -> None:
        inv.due_at = due_at
        self.outbox.append(inv)

    def take_due(self, now: float) -> list[Invocation]:
        """Take the sends that are due out of the outbox."""
        due = [inv for inv in self.outbox if inv.due_at <= now]
        if due:
            self.outbox = [inv for inv in self.outbox if inv not in due]
        return due

    def unqueue(self, inv: Invocation) -> bool:
        """Take one send out of the outbox; False when it is not waiting there."""
        if inv in self.outbox:
            self.outbox.remove(inv)
            return True
        return False

    def withdraw(self, inv: Invocation) -> None:
        """Forget a send or an inboxed invocation that will never start (it was killed)."""
        self.unqueue(inv)
        lock = inv.lock_key
        if inv.status == "inboxed" and lock is not None:
            self.inboxes[lock].remove(inv)

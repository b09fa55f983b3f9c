"""Awakeables and workflow promises: what waits for them, and their completion.

An awakeable belongs to the invocation that created it; completing it completes that step
(a second completion is ignored, as by Restate). A workflow's promise is completed once per
workflow id: the value is kept for later ``value()`` / ``peek()`` steps and written to the
database (``WorkflowPromise``), so a workflow's promises outlive the test action.
"""

from __future__ import annotations

import base64
import hashlib
from collections import defaultdict
from collections.abc import Callable

from .. import store
from ..invocation import Invocation
from ..replay import Entry, Failure

Slot = tuple[str, str, str]
Result = bytes | Failure


class Promises:
    def __init__(
        self,
        complete_entry: Callable[[Invocation, Entry, Result | None], None],
        write: Callable[[Callable[[], None]], None],
    ) -> None:
        #: Completes a step of another invocation and resumes it; queues a database write.
        self._complete_entry, self._write = complete_entry, write
        self.awakeables: dict[str, tuple[Invocation, Entry]] = {}
        self.values: dict[Slot, Result] = {}
        self._waiters: defaultdict[Slot, list[tuple[Invocation, Entry]]] = defaultdict(list)
        self._loaded: set[tuple[str, str]] = set()

    # -- awakeables -----------------------------------------------------------------------

    def new_awakeable(self, inv: Invocation, entry: Entry) -> str:
        digest = hashlib.sha256(f"{inv.id}/{entry.index}".encode()).digest()
        awakeable_id = "sign_1" + base64.urlsafe_b64encode(digest[:24]).decode().rstrip("=")
        self.awakeables[awakeable_id] = (inv, entry)
        return awakeable_id

    def complete_awakeable(self, awakeable_id: str, result: Result) -> bool:
        """Resolve or reject an awakeable; completing it twice is ignored, as by Restate."""
        found = self.awakeables.get(awakeable_id)
        if found is None:
            return False
        owner, entry = found
        self._complete_entry(owner, entry, result)
        return True

    # -- workflow promises ----------------------------------------------------------------

    def await_promise(self, inv: Invocation, entry: Entry, name: str) -> None:
        slot = (inv.spec.name, inv.key, name)
        if slot in self.values:
            entry.complete(self.values[slot])
        else:
            self._waiters[slot].append((inv, entry))

    def peek_promise(self, inv: Invocation, entry: Entry, name: str) -> None:
        entry.complete(self.values.get((inv.spec.name, inv.key, name)))

    def complete_promise_from(self, inv: Invocation, entry: Entry, name: str, result: Result) -> None:
        if self.complete_promise(inv.spec.name, inv.key, name, result):
            entry.complete(None)
        else:
            entry.complete(Failure(409, "promise was already completed"))

    def complete_promise(self, workflow: str, key: str, name: str, result: Result) -> bool:
        """Resolve or reject a promise once; False when it was already completed."""
        slot = (workflow, key, name)
        if slot in self.values:
            return False
        self.values[slot] = result

        def write() -> None:
            store.complete_promise(workflow, key, name, result)

        self._write(write)
        for owner, entry in self._waiters.pop(slot, []):
            self._complete_entry(owner, entry, result)
        return True

    def loaded(self, workflow: str, key: str) -> bool:
        """Whether this workflow's promises were read from the database yet."""
        return (workflow, key) in self._loaded

    def merge(self, workflow: str, key: str, loaded: dict[str, Result]) -> None:
        """Add the promises read from the database (what this mock completed since wins)."""
        self._loaded.add((workflow, key))
        for name, result in loaded.items():
            self.values.setdefault((workflow, key, name), result)

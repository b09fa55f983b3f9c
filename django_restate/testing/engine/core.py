"""The engine's shared parts: what it holds (the clock, admission, faults, the scheduler), errors
that fail the test, and waiting for an invocation to end. The other modules of this package add to
it, one idea each; `django_restate.testing.engine.MockEngine` puts them together."""

from __future__ import annotations

import abc
from collections.abc import Callable

from ...registry import Registry
from ..clock import VirtualClock
from ..faults import Faults
from ..invocation import Invocation
from ..options import DEFAULT_MAX_ATTEMPTS
from ..replay import Entry, Failure
from ..scheduler import Scheduler
from .admission import Admission
from .explain import explain
from .promises import Promises


class EngineCore(abc.ABC):
    def __init__(
        self,
        registry: Registry,
        *,
        replay_check: bool = False,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        clock: VirtualClock | None = None,
    ) -> None:
        self.registry = registry
        self.replay_check = replay_check
        self.max_attempts = max_attempts
        self.clock = clock or VirtualClock()
        self.scheduler = Scheduler()
        self.faults = Faults()
        self.admission = Admission()
        self.promises = Promises(self.complete_entry, self._writes_append)
        #: Invocations whose task ran in the current test action.
        self.live: set[Invocation] = set()
        self._writes: list[Callable[[], None]] = []
        self._errors: list[BaseException] = []
        self._driving = False

    @property
    def invocations(self) -> dict[str, Invocation]:
        return self.admission.invocations

    def now(self) -> float:
        return self.clock.now

    # -- errors that fail the test ----------------------------------------------------

    def fail_test(self, error: BaseException) -> None:
        """Remember an error the test must see even if handler code catches it."""
        if error not in self._errors:
            self._errors.append(error)

    def explain(self, inv: Invocation) -> str:
        """Why ``inv`` cannot finish, following what it waits for."""
        return explain(inv, self.admission)

    def when_done(self, inv: Invocation, callback: Callable[[Invocation], None]) -> None:
        if inv.done:
            callback(inv)
        else:
            inv.on_done.append(callback)

    def complete_entry(self, owner: Invocation, entry: Entry, result: bytes | Failure | None) -> None:
        """Complete a step of ``owner`` from outside it, resuming ``owner`` if it was suspended."""
        if entry.complete(result):
            self._resume(owner)

    def _resume(self, inv: Invocation) -> None:
        if inv.status == "suspended":
            self._start(inv)

    def _writes_append(self, write: Callable[[], None]) -> None:
        self._writes.append(write)

    @abc.abstractmethod
    def _start(self, inv: Invocation) -> None:
        """Run an attempt of ``inv`` in a task of its own (`django_restate.testing.engine.attempts`)."""

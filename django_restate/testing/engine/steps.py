"""Durable steps that run or wait: ``ctx.run`` actions (retried per their options) and sleeps on
the virtual clock."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from restate.context import RunOptions
from restate.exceptions import TerminalError
from restate.serde import Serde

from ..context import AttemptFailed
from ..invocation import Invocation
from ..replay import Entry, Failure
from .attempts import Attempts
from .retries import RunRetries, backoff


class RunSteps(Attempts):
    async def execute_run(
        self, inv: Invocation, entry: Entry, action: Callable[[], Any], serde: Serde[Any], options: RunOptions[Any]
    ) -> None:
        """Run a ``ctx.run`` action, retrying it per its options; a failure with retry options
        becomes a TerminalError(500, repr(error)), without them it fails the whole attempt."""
        retries = RunRetries.of(options)
        elapsed, attempt = 0.0, 0
        while True:
            attempt += 1
            await self.flush()
            injected = self.faults.run_failure(inv.spec.name, inv.handler.name, entry.name)
            try:
                if injected is not None:
                    raise injected
                if inspect.iscoroutinefunction(_unwrap(action)):
                    with self.scheduler.working():
                        value = await action()
                else:
                    value = await self.scheduler.run_sync(action)
                buffer = bytes(serde.serialize(value))
            except TerminalError as error:
                entry.complete(Failure(error.status_code, error.message))
                return
            except Exception as error:
                if retries is None:
                    raise AttemptFailed(error) from error
                if retries.exhausted(attempt, elapsed):
                    entry.complete(Failure(500, repr(error)))
                    return
                elapsed += backoff(retries.backoff, attempt)
                continue
            entry.complete(buffer)
            return

    def schedule_sleep(self, inv: Invocation, entry: Entry, seconds: float) -> None:
        self.clock.call_later(seconds, lambda: self.complete_entry(inv, entry, None), f"{inv.target} sleep")


def _unwrap(action: Any) -> Any:
    while hasattr(action, "func"):  # functools.partial
        action = action.func
    return action

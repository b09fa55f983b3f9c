"""Running invocations: start one (or queue it behind its key), run an attempt of the handler against
its journal, finish it and hand its key on, or retry it after a retryable error."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from restate.exceptions import SuspendedException, TerminalError
from restate.serde import Serde

from ...runtime import terminal_cause
from ...serde import TypedJsonSerde
from ..context import AttemptFailed, ContextEngine, Killed, MockContext
from ..errors import MockRestateError, RetryForever
from ..invocation import Invocation
from ..replay import Failure, NonDeterminismError, Replay, output_mismatch
from .retries import backoff, invocation_backoff, invocation_policy
from .state import StateAccess


class Attempts(StateAccess):
    def submit(self, inv: Invocation) -> None:
        """Start an invocation, or queue it behind the one that holds its key."""
        if self.admission.acquire(inv):
            self._start(inv)

    def run_now(self, inv: Invocation) -> None:
        """Start a queued send at once (the test called it with the idempotency key it was sent with)."""
        if self.admission.unqueue(inv):
            self.submit(inv)

    def _start(self, inv: Invocation) -> None:
        inv.status = "running"
        inv.task = asyncio.get_running_loop().create_task(self._attempt(inv), name=inv.target)
        self.live.add(inv)

    def context(self, inv: Invocation, kind: str | None = None) -> MockContext:
        """A context for a new attempt of ``inv``: it replays the journal from the start."""
        inv.replay = Replay(inv.journal, inv.target, verify=inv.verify, report=self.fail_test)
        # The MockEngine this class is part of answers the whole ContextEngine protocol.
        return MockContext(cast("ContextEngine", self), inv, kind or inv.handler_kind)

    async def _attempt(self, inv: Invocation) -> None:
        inv.attempts += 1
        result = await self._execute(inv, self.context(inv))
        if result is None:
            return
        if self.replay_check and not inv.killed:
            await self._verify(inv, result)
        self.finish(inv, result)
        inv.task = None

    async def _execute(self, inv: Invocation, ctx: MockContext) -> bytes | Failure | None:
        """One attempt of the handler; None when it did not end (suspended, retried, stuck)."""
        try:
            if not inv.verify:
                await self._load(inv)
            method = getattr(inv.spec.cls(), inv.handler.attr)
            input_serde, output_serde = inv.handler.serdes
            if inv.handler.takes_input:
                value = await method(ctx, _decode_input(input_serde, inv.input))
            else:
                value = await method(ctx)
            inv.replay.check_fully_replayed()
            return bytes(output_serde.serialize(value))
        except SuspendedException:
            inv.status = "suspended"
            inv.waited_on = list(inv.blocked) or inv.waited_on
            return None
        except Killed:
            inv.killed = True
            return Failure(409, "killed")
        except AttemptFailed as failed:
            self._retry(inv, failed.error)
            return None
        except (MockRestateError, NonDeterminismError) as error:
            self.fail_test(error)
            inv.status = "paused"
            return None
        except Exception as error:
            terminal = terminal_cause(error)
            if terminal is not None:
                return Failure(terminal.status_code, terminal.message)
            if inv.verify:
                raise
            self._retry(inv, error)
            return None
        finally:
            ctx.attempt_finished.set()

    async def _verify(self, inv: Invocation, recorded: bytes | Failure) -> None:
        """The replay check: run the handler again against its journal; it must make the same steps
        and return the same result."""
        inv.verify = True
        try:
            replayed = await self._execute(inv, self.context(inv))
        except Exception as error:
            replayed = Failure(500, repr(error))
        finally:
            inv.verify = False
        if replayed is not None and replayed != recorded:
            self.fail_test(
                NonDeterminismError(output_mismatch(inv.target, inv.journal, _text(recorded), _text(replayed)))
            )

    def finish(self, inv: Invocation, output: bytes | Failure) -> None:
        """Record the outcome, hand the key to the next invocation in its inbox, notify waiters."""
        inv.output = output
        inv.done = True
        inv.status = "completed"
        inv.state = None  # a test may make thousands of calls: keep the record, not the machinery
        following = self.admission.release(inv)
        if following is not None:
            self._start(following)
        callbacks, inv.on_done = inv.on_done, []
        for callback in callbacks:
            callback(inv)

    def _retry(self, inv: Invocation, error: BaseException) -> None:
        """A retryable failure: back off and try again per the invocation retry policy."""
        inv.last_error = error
        policy = invocation_policy(inv)
        limit = getattr(policy, "max_attempts", None)
        if limit is not None and inv.attempts >= limit:
            if getattr(policy, "on_max_attempts", None) == "kill":
                self.finish(inv, Failure(500, repr(error)))
            else:
                inv.status = "paused"
            return
        inv.status = "backing-off"
        if limit is None and inv.attempts >= self.max_attempts:
            failure = RetryForever(
                f"{inv.target} failed {inv.attempts} times with {error!r}; the mock stops here.",
                "set invocation_retry_policy on the handler to bound the retries",
            )
            failure.__cause__ = error
            self.fail_test(failure)
            return
        delay = backoff(invocation_backoff(policy), inv.attempts)
        self.clock.call_later(delay, lambda: self._start(inv), f"retry {inv.target}")


def _decode_input(serde: Serde[Any], buffer: bytes) -> Any:
    if isinstance(serde, TypedJsonSerde):
        return serde.deserialize(buffer)  # a TerminalError 400 for bad input, as the endpoint answers
    try:
        return serde.deserialize(buffer)
    except Exception as exc:  # the SDK's own wording for a user serde that fails
        raise TerminalError(f"Unable to parse an input argument. {exc}") from exc


def _text(result: bytes | Failure) -> str:
    if isinstance(result, Failure):
        return f"failure [{result.code}] {result.message}"
    return result.decode("utf-8", "replace") or "(empty)"

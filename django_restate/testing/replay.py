"""The journal of a mock invocation, the cursor that replays it, and the diff the replay check shows.

Restate records every durable step of an invocation (state access, ``ctx.run``, calls,
sleeps, awakeables, promises) and, when it retries or resumes the invocation, replays
the handler against that record. Code that takes another path on replay (``random``,
``uuid4()`` or the wall clock outside ``ctx.run``) breaks this. The mock records the same
journal and, with the replay check on, runs every handler a second time against it, as
the real server's always-replay mode does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from .errors import MockRestateError

PREVIEW = 60


@dataclass(frozen=True)
class Failure:
    """A terminal failure as Restate records it: a status code and a message."""

    code: int
    message: str


@dataclass(eq=False)
class Entry:
    """One durable step. ``payload`` is what the handler sent; ``result`` what came back."""

    index: int
    kind: str
    name: str
    payload: bytes | None = None
    result: bytes | Failure | None = None
    completed: bool = False
    #: The cancellation signal surfaced while the handler awaited this step.
    cancelled_here: bool = False
    #: Ids this step created or names: the callee's invocation id, the awakeable id, ...
    detail: dict[str, Any] = field(default_factory=dict)
    waiters: list[asyncio.Future[None]] = field(default_factory=list, repr=False)

    def matches(self, kind: str, name: str, payload: bytes | None) -> bool:
        return self.kind == kind and self.name == name and (payload is None or self.payload == payload)

    def describe(self) -> str:
        return describe_step(self.index, self.kind, self.name, self.payload)

    def complete(self, result: bytes | Failure | None) -> bool:
        """Record the result and wake whoever awaits it; False when it was already complete."""
        if self.completed:
            return False
        self.result = result
        self.completed = True
        self.wake()
        return True

    def wake(self, error: BaseException | None = None) -> None:
        waiters, self.waiters = self.waiters, []
        for waiter in waiters:
            if not waiter.done():
                if error is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(error)


def describe_step(index: int, kind: str, name: str, payload: bytes | None) -> str:
    text = f"#{index} {kind}"
    if name:
        text += f" {name!r}"
    if payload:
        shown = payload.decode("utf-8", "replace")
        text += " " + (shown if len(shown) <= PREVIEW else shown[:PREVIEW] + "...")
    return text


class Journal:
    def __init__(self) -> None:
        self.entries: list[Entry] = []

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> Entry:
        return self.entries[index]

    def __iter__(self) -> Any:
        return iter(self.entries)

    def append(self, kind: str, name: str, payload: bytes | None) -> Entry:
        entry = Entry(len(self.entries), kind, name, payload)
        self.entries.append(entry)
        return entry

    def describe(self) -> list[str]:
        return [entry.describe() for entry in self.entries]


class NonDeterminismError(MockRestateError, AssertionError):
    """A handler made other durable steps on replay than its journal holds (Restate: journal
    mismatch, RT0016)."""


HINT = (
    "Restate replays handlers against their journal when it retries or resumes them, so a handler "
    "must make the same steps in the same order. Use ctx.random(), ctx.uuid() and ctx.time(), and "
    "put other side effects (clock, random, I/O) inside ctx.run_typed(...)."
)


class Replay:
    """Where one attempt of an invocation stands in its journal.

    Each attempt runs the handler from the top: a step the journal already holds is answered
    from it (and must be the same step), a step past its end is recorded. With ``verify`` (the
    replay check's second run) the journal must already hold every step. ``report`` learns of a
    divergence before it is raised, so handler code that catches it cannot hide it from the test.
    """

    __slots__ = ("journal", "label", "position", "verify", "report")

    def __init__(
        self,
        journal: Journal,
        label: str,
        *,
        verify: bool = False,
        report: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.journal, self.label, self.verify, self.report = journal, label, verify, report
        self.position = 0

    def replayed(self, kind: str, name: str, payload: bytes | None) -> Entry | None:
        """The recorded entry for the next step, or None when the handler is past what was recorded."""
        index = self.position
        if index < len(self.journal):
            entry = self.journal[index]
            if not entry.matches(kind, name, payload):
                self.diverged(index, describe_step(index, kind, name, payload))
            self.position += 1
            return entry
        if self.verify:
            self.diverged(index, describe_step(index, kind, name, payload))
        return None

    def record(self, kind: str, name: str, payload: bytes | None) -> Entry:
        """Append a new step (the handler is past the end of its journal)."""
        self.position += 1
        return self.journal.append(kind, name, payload)

    def check_fully_replayed(self) -> None:
        """The handler returned: a journal with steps it did not make again is a divergence too."""
        if self.position < len(self.journal):
            self.diverged(self.position, None)

    def diverged(self, index: int, replayed: str | None) -> NoReturn:
        error = NonDeterminismError(mismatch(self.label, self.journal, index, replayed))
        if self.report is not None:
            self.report(error)
        raise error


def mismatch(label: str, recorded: Journal, index: int, replayed: str | None) -> str:
    """A readable diff: the steps both runs agree on, then what was recorded and what the replay did."""
    lines = [f"{label} is not deterministic: replaying its journal made different steps.", ""]
    lines += [f"  {recorded[i].describe()}" for i in range(min(index, len(recorded)))]
    if index < len(recorded):
        lines.append(f"- {recorded[index].describe()}   (recorded)")
    else:
        lines.append("- (end of journal)   (recorded)")
    lines.append(f"+ {replayed if replayed is not None else '(end of handler)'}   (replayed)")
    lines += ["", HINT]
    return "\n".join(lines)


def output_mismatch(label: str, recorded: Journal, original: str, replayed: str) -> str:
    lines = [f"{label} is not deterministic: on replay it returned something else.", ""]
    lines += [f"  {entry.describe()}" for entry in recorded]
    lines += [f"- output {original}   (recorded)", f"+ output {replayed}   (replayed)", "", HINT]
    return "\n".join(lines)

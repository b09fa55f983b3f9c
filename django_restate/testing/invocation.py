"""One invocation of a handler in the mock, with its journal and where it stands."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from ..reflect import HandlerSpec, ServiceSpec
from .replay import Entry, Failure, Journal, Replay

Status = Literal[
    "scheduled",  # a send that waits for restate_mock.drain()
    "inboxed",  # waits for another invocation to release its key
    "running",
    "suspended",  # waits for an awakeable, a promise, a call, ...; resumes by replaying its journal
    "backing-off",  # failed with a retryable error and waits to be retried
    "paused",  # ran out of attempts with on_max_attempts="pause"
    "completed",
]


@dataclass(eq=False)
class Invocation:
    id: str
    spec: ServiceSpec
    handler: HandlerSpec
    key: str
    input: bytes
    headers: dict[str, str] = field(default_factory=dict)
    idempotency_key: str | None = None
    journal: Journal = field(default_factory=Journal)
    status: Status = "scheduled"
    output: bytes | Failure | None = None
    done: bool = False
    attempts: int = 0
    #: When a scheduled send becomes due, in virtual time.
    due_at: float = 0.0
    caller: Invocation | None = None
    cancel_requested: bool = False
    cancel_delivered: bool = False
    killed: bool = False
    last_error: BaseException | None = None
    #: True while the replay check runs the handler a second time.
    verify: bool = False
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    #: The current attempt's place in the journal: the engine starts one per attempt (its context()).
    replay: Replay = field(init=False, repr=False)
    #: The steps the handler awaits right now, and the ones it awaited when it last stopped.
    blocked: list[Entry] = field(default_factory=list, repr=False)
    waited_on: list[Entry] = field(default_factory=list, repr=False)
    #: The state this attempt reads, loaded when it starts.
    state: dict[str, bytes] | None = field(default=None, repr=False)
    on_done: list[Callable[[Invocation], None]] = field(default_factory=list, repr=False)

    @property
    def handler_kind(self) -> str:
        """The context kind: "service", "exclusive", "shared", "workflow" or "workflow_shared"."""
        return self.handler.context_kind

    @property
    def target(self) -> str:
        """How Restate names the target: ``Service/handler`` or ``Object/key/handler``."""
        return self.spec.target(self.key, self.handler)

    @property
    def lock_key(self) -> tuple[str, str] | None:
        """Exclusive handlers and a workflow's run hold their key; shared handlers never wait."""
        if self.handler.kind in ("exclusive", "workflow"):
            return (self.spec.name, self.key)
        return None

    @property
    def succeeded(self) -> bool:
        return self.done and not isinstance(self.output, Failure)

    def result_text(self) -> str:
        if isinstance(self.output, Failure):
            return f"failed [{self.output.code}] {self.output.message}"
        if self.output is None:
            return "no output"
        return self.output.decode("utf-8", "replace")

    def describe(self) -> dict[str, Any]:
        """What a test may want to look at: target, status, journal and output."""
        return {
            "id": self.id,
            "target": self.target,
            "status": self.status,
            "attempts": self.attempts,
            "journal": self.journal.describe(),
            "output": self.result_text() if self.done else None,
        }

"""Failure injection: make a named ``ctx.run`` step fail, or kill an invocation at a journal step,
to drive a handler down its retry and compensation paths."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FailRun:
    """The next ``times`` attempts of run step ``name`` raise ``error`` instead of running."""

    name: str
    times: int
    error: BaseException
    service: str | None = None
    handler: str | None = None
    failed: int = 0

    def applies(self, service: str, handler: str, name: str) -> bool:
        return (
            self.failed < self.times
            and self.name == name
            and self.service in (None, service)
            and self.handler in (None, handler)
        )


@dataclass
class KillAt:
    """Kill the next invocation of ``service``/``handler`` when it reaches journal step ``step``
    (0 is its first durable step), as ``restate invocations kill`` would."""

    service: str
    handler: str
    step: int
    used: bool = False

    def applies(self, service: str, handler: str, step: int) -> bool:
        return not self.used and self.service == service and self.handler == handler and self.step == step


class Faults:
    def __init__(self) -> None:
        self.runs: list[FailRun] = []
        self.kills: list[KillAt] = []

    def run_failure(self, service: str, handler: str, name: str) -> BaseException | None:
        for fault in self.runs:
            if fault.applies(service, handler, name):
                fault.failed += 1
                return fault.error
        return None

    def kill_now(self, service: str, handler: str, step: int) -> bool:
        for fault in self.kills:
            if fault.applies(service, handler, step):
                fault.used = True
                return True
        return False

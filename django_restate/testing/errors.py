"""What the mock raises when a test or a handler does something a real Restate server would not
complete. Each message names what happened and what to write instead."""

from __future__ import annotations

from ..exceptions import RestateError


class MockRestateError(RestateError):
    """Base class of the mock's own errors."""


class RetryForever(MockRestateError):
    """The real server would not fail this invocation: it would retry it forever.

    Raised instead of looping, for mistakes such as writing state from a shared
    handler, calling a service that is not registered, or storing a value JSON
    cannot encode. ``code`` is the Restate error code the server reports.
    """

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(
            f"{message} A real Restate server retries this invocation forever" + (f" ({code})." if code else ".")
        )
        self.code = code


class Deadlock(MockRestateError, AssertionError):
    """The test waits for an invocation that can never finish: nothing left can wake it."""


class WrongContext(MockRestateError, TypeError):
    """A handler was given a context of another kind than its annotation asks for."""


class NestedDrive(MockRestateError, RuntimeError):
    """The mock was called from inside a handler it is running (e.g. from a ``ctx.run`` action)."""

    def __init__(self) -> None:
        super().__init__(
            "The mock was called from inside a handler it is running (for example from a ctx.run "
            "action). Call handlers from the test, or from handlers with ctx.service_call / object_call."
        )

"""Durable futures of the mock context.

They subclass the SDK's own future classes so that ``restate.gather``, ``restate.select``
and ``restate.as_completed`` (which only accept SDK futures) work on them too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from restate.context import DurablePromise, SendHandle
from restate.server_context import ServerCallDurableFuture, ServerDurableFuture, ServerDurableSleepFuture

if TYPE_CHECKING:
    from .contexts import MockContext

T = TypeVar("T")

AsyncDef = Callable[[], Coroutine[Any, Any, Any]]


class MockFuture(ServerDurableFuture[T]):
    """The result of one journal step; the step's index is its handle."""

    def __init__(self, ctx: MockContext, handle: int, fetch: AsyncDef) -> None:
        super().__init__(ctx, handle, fetch)  # type: ignore[arg-type]


class MockSleepFuture(ServerDurableSleepFuture):
    def __init__(self, ctx: MockContext, handle: int, fetch: AsyncDef) -> None:
        super().__init__(ctx, handle, fetch)  # type: ignore[arg-type]


class MockCallFuture(ServerCallDurableFuture[T]):
    def __init__(self, ctx: MockContext, handle: int, fetch: AsyncDef, invocation_id: AsyncDef) -> None:
        super().__init__(ctx, handle, fetch, invocation_id)  # type: ignore[arg-type]


class MockSendHandle(SendHandle):
    def __init__(self, ctx: MockContext, invocation_id: str) -> None:
        self._ctx = ctx
        self._invocation_id = invocation_id

    async def invocation_id(self) -> str:
        return self._invocation_id

    async def cancel_invocation(self) -> None:
        self._ctx.cancel_invocation(self._invocation_id)


class MockDurablePromise(DurablePromise[T], Generic[T]):
    """A workflow's durable promise: ``value()`` blocks until it is resolved or rejected, from a
    shared handler, the run itself, or the test (``restate_mock.resolve_promise``)."""

    def __init__(
        self,
        name: str,
        value: Callable[[], MockFuture[T]],
        peek: Callable[[], MockFuture[T | None]],
        resolve: Callable[[T], Awaitable[None]],
        reject: Callable[[str, int], Awaitable[None]],
    ) -> None:
        super().__init__(name)
        self._value, self._peek, self._resolve, self._reject = value, peek, resolve, reject

    def value(self) -> MockFuture[T]:
        return self._value()

    def peek(self) -> Awaitable[T | None]:
        return self._peek()

    def resolve(self, value: T) -> Awaitable[None]:
        return self._resolve(value)

    def reject(self, message: str, code: int = 500) -> Awaitable[None]:
        return self._reject(message, code)

    def __await__(self) -> Any:
        return self.value().__await__()  # type: ignore[no-untyped-call]

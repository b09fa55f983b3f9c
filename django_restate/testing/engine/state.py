"""State and the database: what an attempt reads (loaded from the ORM after the pending writes),
what handlers write (kept in order, written before anyone else can read), and a workflow's promises."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .. import store
from ..bridge import run_paused
from ..invocation import Invocation
from ..replay import Failure
from .core import EngineCore


class StateAccess(EngineCore):
    async def _load(self, inv: Invocation) -> None:
        """Load the state (and a workflow's promises) the attempt reads, after pending writes.

        In a synchronous test an invocation that holds its key reads its state when it first uses it
        instead (:meth:`state_of`): nobody else writes that state meanwhile, so it reads the same
        rows, and a handler that never touches its state costs no query."""
        writes, self._writes = self._writes, []
        reads_state = inv.handler_kind != "service"
        if reads_state and self.scheduler.inline is not None and inv.lock_key is not None:
            reads_state = False
        promises = inv.spec.kind == "workflow" and not self.promises.loaded(inv.spec.name, inv.key)
        inv.state = None
        if not writes and not reads_state and not promises:
            return
        state, loaded = await self.scheduler.run_sync(
            _write_then_read, writes, inv.spec.name, inv.key, reads_state, promises
        )
        inv.state = state
        if promises:
            self.promises.merge(inv.spec.name, inv.key, loaded)

    def state_of(self, inv: Invocation) -> dict[str, bytes]:
        """The state ``inv``'s attempt reads: loaded at its start, or now (after pending writes) in a
        synchronous test, where this thread owns the connection and may query right away."""
        if inv.state is None:
            if inv.handler_kind == "service" or self.scheduler.inline is None:
                inv.state = {}
            else:
                writes, self._writes = self._writes, []
                loaded, _ = run_paused(_write_then_read, writes, inv.spec.name, inv.key, True, False)
                inv.state = loaded or {}
        return inv.state

    def write_state(self, inv: Invocation, write: store.StateWrite) -> None:
        state = self.state_of(inv)
        op, name, value = write
        if op == "set":
            assert value is not None
            state[name] = value
        elif op == "clear":
            state.pop(name, None)
        else:
            state.clear()
        service, key = inv.spec.name, inv.key
        self._writes.append(lambda: store.apply_writes(service, key, [write]))

    async def flush(self, inv: Invocation | None = None) -> None:
        """Write what handlers changed to the database (before anyone else can read it)."""
        if self._writes:
            writes, self._writes = self._writes, []
            await self.scheduler.run_sync(_apply, writes)

    async def load_promises(self, workflow: str, key: str) -> None:
        """Read a workflow's promises from the database (after pending writes), once."""
        if not self.promises.loaded(workflow, key):
            _, loaded = await self.scheduler.run_sync(_write_then_read, [], workflow, key, False, True)
            self.promises.merge(workflow, key, loaded)


def _write_then_read(
    writes: Iterable[Callable[[], None]], service: str, key: str, state: bool, promises: bool
) -> tuple[dict[str, bytes] | None, dict[str, bytes | Failure]]:
    _apply(writes)
    loaded_state = store.load_state(service, key) if state else None
    loaded_promises = store.load_promises(service, key) if promises else {}
    return loaded_state, loaded_promises


def _apply(writes: Iterable[Callable[[], None]]) -> None:
    for write in writes:
        write()

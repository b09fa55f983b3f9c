"""Waiting in a handler: a step blocks until it is completed, or a cancellation, suspension or kill
arrives; ``kill_at`` faults kill at a step."""

from __future__ import annotations

import asyncio

from ..invocation import Invocation
from ..replay import Entry
from .core import EngineCore


class Waiting(EngineCore):
    async def block(self, inv: Invocation, entry: Entry) -> None:
        """Wait until ``entry`` completes (or a cancellation, suspension or kill arrives)."""
        if inv.verify:
            inv.replay.diverged(entry.index, f"awaits {entry.describe()}, which the recorded run never saw completed")
        if inv.cancel_requested and not inv.cancel_delivered:
            inv.cancel_delivered = True
            entry.cancelled_here = True
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry.waiters.append(waiter)
        inv.blocked.append(entry)
        inv.waited_on = [entry]
        try:
            await waiter
        finally:
            inv.blocked.remove(entry)

    async def block_any(self, inv: Invocation, entries: list[Entry]) -> None:
        if any(e.completed or e.cancelled_here for e in entries):
            return
        if inv.verify or (inv.cancel_requested and not inv.cancel_delivered):
            await self.block(inv, entries[0])
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for entry in entries:
            entry.waiters.append(waiter)
            inv.blocked.append(entry)
        inv.waited_on = list(entries)
        try:
            await waiter
        finally:
            for entry in entries:
                inv.blocked.remove(entry)
                if waiter in entry.waiters:
                    entry.waiters.remove(waiter)

    def kill_now(self, inv: Invocation, step: int) -> bool:
        return self.faults.kill_now(inv.spec.name, inv.handler.name, step)

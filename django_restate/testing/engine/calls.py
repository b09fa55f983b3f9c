"""Between invocations: calls and sends from handlers (by method or by name), attach, cancel and kill,
awakeables and a workflow's promises."""

from __future__ import annotations

from typing import Any

from restate.serde import Serde

from ...reflect import HandlerSpec, ServiceSpec
from ...registry import NotRegistered
from ..context import Killed, Target
from ..errors import RetryForever
from ..invocation import Invocation
from ..replay import Entry, Failure
from .attempts import Attempts


class Calls(Attempts):
    def resolve_method(self, tpe: Any, how: str, caller: Invocation) -> tuple[Target, Serde[Any], Serde[Any]]:
        """The handler that ``ctx.object_call(Cart.add_item, ...)`` names, by the rule the endpoint
        exposes it with (`Registry.for_method`)."""
        try:
            target = self.registry.for_method(tpe)
        except LookupError as exc:
            name = getattr(tpe, "__qualname__", repr(tpe))
            error = RetryForever(
                f"{caller.target} called {how}({name}, ...), but {exc} The SDK raises "
                "ValueError('Handler not found'); call it by name with ctx.generic_call(service, handler, "
                "payload, key=...).",
            )
            self.fail_test(error)
            raise error from None
        return target, *target[1].serdes

    def resolve_name(self, service: str, handler: str, caller: Invocation) -> Target:
        try:
            spec = self.registry.get(service)
            return spec, spec.handler(handler)
        except (NotRegistered, LookupError):
            known = ", ".join(f"{s.name}/{h.name}" for s in self.registry for h in s.handlers) or "none"
            error = RetryForever(
                f"{caller.target} called {service}/{handler}, which is not registered: the server answers "
                f'"the service handler {service}/{handler} was not found". Registered handlers: {known}.',
                "RT0018",
            )
            self.fail_test(error)
            raise error from None

    def call_from(
        self,
        caller: Invocation,
        entry: Entry,
        spec: ServiceSpec,
        handler: HandlerSpec,
        key: str,
        buffer: bytes,
        idempotency_key: str | None,
        headers: dict[str, str],
    ) -> None:
        callee, new = self.admission.admit(
            spec, handler, key, buffer, headers=headers, idempotency_key=idempotency_key, caller=caller
        )
        entry.detail["invocation_id"] = callee.id
        if not new and handler.kind == "workflow" and callee.done:
            entry.complete(Failure(409, "the workflow method was already invoked"))
            return
        self.when_done(callee, lambda done: self.complete_entry(caller, entry, done.output))
        if new:
            self.submit(callee)

    def send_from(
        self,
        caller: Invocation | None,
        spec: ServiceSpec,
        handler: HandlerSpec,
        key: str,
        buffer: bytes,
        delay: float,
        idempotency_key: str | None,
        headers: dict[str, str],
    ) -> str:
        inv, new = self.admission.admit(spec, handler, key, buffer, headers=headers, idempotency_key=idempotency_key)
        if new:
            inv.caller = caller
            self.admission.queue(inv, self.clock.now + delay)
            if delay > 0:  # so that draining with time moves the clock to it
                self.clock.call_at(inv.due_at, lambda: None, f"send {inv.target}")
        return inv.id

    def attach_from(self, caller: Invocation, entry: Entry, invocation_id: str) -> None:
        target = self.invocations.get(invocation_id)
        if target is None:
            entry.complete(Failure(404, f"invocation {invocation_id} not found"))
            return
        self.when_done(target, lambda done: self.complete_entry(caller, entry, done.output))

    def cancel(self, invocation_id: str) -> None:
        """Cancel an invocation: its current or next await raises TerminalError("cancelled", 409),
        so it can still run compensations; one that has not started completes at once."""
        inv = self.invocations.get(invocation_id)
        if inv is None or inv.done:
            return
        inv.cancel_requested = True
        if self.admission.unqueue(inv):  # on a server it would be running by now: it starts, and sees it
            self.submit(inv)
            return
        if inv.blocked:
            inv.cancel_delivered = True
            entry = inv.blocked[0]
            entry.cancelled_here = True
            entry.wake()
        elif inv.status == "suspended":
            self._resume(inv)

    def kill(self, invocation_id: str) -> None:
        """Kill an invocation: it stops where it is, without compensation; callers get 409 killed."""
        inv = self.invocations.get(invocation_id)
        if inv is None or inv.done:
            return
        if inv.task is not None and not inv.task.done() and inv.blocked:
            for entry in list(inv.blocked):
                entry.wake(Killed())
            return
        self.admission.withdraw(inv)
        self.finish(inv, Failure(409, "killed"))

    # -- awakeables and workflow promises ---------------------------------------------------

    def new_awakeable(self, inv: Invocation, entry: Entry) -> str:
        return self.promises.new_awakeable(inv, entry)

    def complete_awakeable(self, awakeable_id: str, result: bytes | Failure) -> bool:
        return self.promises.complete_awakeable(awakeable_id, result)

    def await_promise(self, inv: Invocation, entry: Entry, name: str) -> None:
        self.promises.await_promise(inv, entry, name)

    def peek_promise(self, inv: Invocation, entry: Entry, name: str) -> None:
        self.promises.peek_promise(inv, entry, name)

    def complete_promise_from(self, inv: Invocation, entry: Entry, name: str, result: bytes | Failure) -> None:
        self.promises.complete_promise_from(inv, entry, name, result)

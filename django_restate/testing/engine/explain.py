"""Why an invocation cannot finish, in words: what it waits for, following calls and key locks
down to the awakeable, promise or queued send at the bottom, and naming the deadlock when two
invocations wait for each other."""

from __future__ import annotations

from ..invocation import Invocation
from ..replay import Entry
from .admission import Admission


def explain(inv: Invocation, admission: Admission) -> str:
    """Why ``inv`` cannot finish, following what it waits for."""
    return f"{inv.target} ({inv.id}) " + _why(inv, admission, set())


def _why(inv: Invocation, admission: Admission, seen: set[str]) -> str:
    if inv.id in seen:
        return "is the invocation above: they wait for each other, which deadlocks a real server too"
    seen.add(inv.id)
    if inv.status == "scheduled":
        return "is a queued send; sends run on restate_mock.drain()"
    if inv.status == "paused":
        return f"is paused after {inv.attempts} failed attempts (last error: {inv.last_error!r})"
    if inv.status == "inboxed":
        lock, holder = inv.lock_key, admission.holder(inv)
        if lock is None or holder is None:
            return "waits for its key"
        return f"waits for its key {lock[1]!r}, held by {holder.target} ({holder.id}), which " + _why(
            holder, admission, seen
        )
    waits = [_explain_entry(inv, entry, admission, seen) for entry in inv.waited_on if not entry.completed]
    if not waits:
        return f"is {inv.status}"
    return "awaits " + "; and ".join(waits)


def _explain_entry(inv: Invocation, entry: Entry, admission: Admission, seen: set[str]) -> str:
    if entry.kind == "awakeable":
        return (
            f"awakeable {entry.detail['awakeable_id']} (step {entry.index}): resolve it with "
            "restate_mock.resolve_awakeable(...) or from another handler"
        )
    if entry.kind == "get_promise":
        return (
            f"promise {entry.name!r} (step {entry.index}): resolve it from a shared handler or with "
            f"restate_mock.resolve_promise({inv.spec.name}, {inv.key!r}, {entry.name!r}, value)"
        )
    callee = admission.invocations.get(str(entry.detail.get("invocation_id", entry.name)))
    if entry.kind in ("call", "attach_invocation") and callee is not None:
        return f"the result of {callee.target} ({callee.id}), which " + _why(callee, admission, seen)
    return entry.describe()

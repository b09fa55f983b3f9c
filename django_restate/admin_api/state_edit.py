"""Replace an object's state only if nobody changed it since it was shown, and say what happened.

Restate's ``POST /services/{service}/state`` replaces the whole state and, when the
version it is given is stale, answers 202 all the same and does nothing. So an edit
is: check the version the page showed against the current state, write the whole new
state with that version, read it back, and classify: :class:`Applied`,
:class:`Conflict` (someone else changed it first) or :class:`Unconfirmed` (accepted,
not visible yet).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ..state import DIGEST_PREFIX, digest_version, state_version
from . import queries
from .client import AdminAPI

#: How long to wait for Restate to apply an accepted write before calling it unconfirmed.
CONFIRM_TIMEOUT = 5.0

State = dict[str, bytes]


@dataclass(frozen=True)
class Applied:
    """The state is now what was asked for (``written`` is False when nothing needed writing)."""

    state: State
    written: bool = True


@dataclass(frozen=True)
class Conflict:
    """Someone else changed the state first; ``current`` is the state as it is now."""

    current: State


@dataclass(frozen=True)
class Unconfirmed:
    """Restate accepted the write but had not applied it after :data:`CONFIRM_TIMEOUT` seconds."""

    current: State


Outcome = Applied | Conflict | Unconfirmed

def replace_state_checked(
    api: AdminAPI,
    service: str,
    key: str,
    shown_version: str,
    change: Callable[[State], State],
    pk: int | None = None,
) -> Outcome:
    """Make ``change`` (current state -> whole new state) if the state still has ``shown_version``.

    ``change`` may raise (``KeyError`` for "no such state key"); nothing is written then.
    Unchanged entries are sent back as the exact bytes read, and when the new state equals
    the current one nothing is written at all.
    """
    current = queries.state(api, service, key, pk)
    seen = digest_version(current) if shown_version.startswith(DIGEST_PREFIX) else state_version(current)
    if seen != shown_version:
        return Conflict(current)
    shown_version = state_version(current)  # what Restate compares: the same state, so its version
    new = change(current)
    if new == current:
        return Applied(current, written=False)
    api.replace_state(service, key, {k: list(v) for k, v in new.items()}, shown_version)
    after = wait_until_changed(api, service, key, pk, current, new)
    if after == new:
        return Applied(after)
    if after == current:
        return Unconfirmed(after)
    return Conflict(after)


def wait_until_changed(api: AdminAPI, service: str, key: str, pk: int | None, before: State, wanted: State) -> State:
    """Re-read the state until our write shows, someone else's shows, or time runs out.

    Restate applies an accepted write asynchronously and drops a stale one without
    saying so; either way the state stops being ``before``.
    """
    deadline = time.monotonic() + CONFIRM_TIMEOUT
    delay = 0.01
    while True:
        after = queries.state(api, service, key, pk)
        if after == wanted or after != before or time.monotonic() > deadline:
            return after
        time.sleep(delay)
        delay = min(delay * 2, 0.25)

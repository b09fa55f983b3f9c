"""Retries: one back-off for invocations and ``ctx.run`` steps, and when each stops retrying.

Restate backs off exponentially between attempts, ``initial * factor ** (attempt - 1)`` capped
at a maximum, for an invocation (its ``invocation_retry_policy``) and for a ``ctx.run`` step
with retry options alike; only the option names differ. In the mock the wait is virtual time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from restate.context import RunOptions

from ..invocation import Invocation

#: Restate's default back-off between attempts, in seconds.
RETRY_INITIAL, RETRY_FACTOR, RETRY_MAX = 0.05, 2.0, 10.0


@dataclass(frozen=True, slots=True)
class Backoff:
    initial: float = RETRY_INITIAL
    factor: float = RETRY_FACTOR
    cap: float = RETRY_MAX


def backoff(policy: Backoff, attempt: int) -> float:
    """How long to wait after the ``attempt``-th failed attempt (1 is the first) before the next."""
    return min(policy.initial * policy.factor ** (attempt - 1), policy.cap)


def invocation_policy(inv: Invocation) -> Any:
    """The ``invocation_retry_policy`` of the handler, else of its service (None: retry forever)."""
    return inv.handler.options.get("invocation_retry_policy") or inv.spec.options.get("invocation_retry_policy")


def invocation_backoff(policy: Any) -> Backoff:
    return Backoff(
        _seconds(getattr(policy, "initial_interval", None), RETRY_INITIAL),
        getattr(policy, "exponentiation_factor", None) or RETRY_FACTOR,
        _seconds(getattr(policy, "max_interval", None), RETRY_MAX),
    )


@dataclass(frozen=True, slots=True)
class RunRetries:
    """The retry options of one ``ctx.run`` step."""

    backoff: Backoff
    max_attempts: int | None
    max_duration: float | None

    @classmethod
    def of(cls, options: RunOptions[Any]) -> RunRetries | None:
        """None when the step has no retry options: then a failure fails the whole attempt."""
        if all(
            value is None
            for value in (
                options.max_attempts,
                options.max_duration,
                options.initial_retry_interval,
                options.max_retry_interval,
                options.retry_interval_factor,
            )
        ):
            return None
        policy = Backoff(
            _seconds(options.initial_retry_interval, RETRY_INITIAL),
            options.retry_interval_factor or RETRY_FACTOR,
            _seconds(options.max_retry_interval, RETRY_MAX),
        )
        duration = options.max_duration.total_seconds() if options.max_duration is not None else None
        return cls(policy, options.max_attempts, duration)

    def exhausted(self, attempt: int, elapsed: float) -> bool:
        """After ``attempt`` failures and ``elapsed`` seconds of back-off, no attempt is left."""
        if self.max_attempts is not None and attempt >= self.max_attempts:
            return True
        return self.max_duration is not None and elapsed >= self.max_duration


def _seconds(value: timedelta | None, default: float) -> float:
    return value.total_seconds() if value is not None else default

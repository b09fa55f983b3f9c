"""Durable steps whose database effects happen once, even when Restate runs the step again.

Restate runs a ``ctx.run`` action at least once: an action is journaled only after it returned,
so an attempt cut off between the action's COMMIT and its journal entry (a node killed, a
replica killed, a lost connection) runs it again, and while a node fails over an attempt still
running in one replica can overlap the retry in another. For a step that only writes to the
database, :func:`~django_restate.runtime.atomic_step` with ``once=True`` turns that into
exactly once: the step's transaction also writes a :class:`StepRun` row keyed by the
invocation and the step, so a second run finds the row, skips the work and returns the first
run's result; two overlapping runs cannot both commit (the row's key is unique), and the loser
is rolled back and retried, and then finds the row.

A step is identified by the invocation, the function and its arguments: call the same step
twice in one invocation with different arguments (or pass something that tells the calls
apart) for two separate effects.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar, cast

from django.db import IntegrityError, models, transaction
from django.utils import timezone

T = TypeVar("T")


class StepRun(models.Model):
    """One committed run of an ``atomic_step(once=True)`` action, with what it returned."""

    invocation_id = models.CharField(max_length=64)
    step = models.CharField(max_length=64, help_text="A digest of the step's function and arguments.")
    name = models.CharField(max_length=255, help_text="The step function, for people reading the table.")
    result = models.BinaryField(help_text="What the first run returned (pickled), returned again on a repeat.")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        app_label = "django_restate"
        verbose_name = "step run"
        default_permissions = ()  # bookkeeping of the steps themselves, with no admin page
        constraints = [models.UniqueConstraint(fields=["invocation_id", "step"], name="django_restate_step_once")]

    def __str__(self) -> str:
        return f"{self.name} in {self.invocation_id}"


def step_key(qualname: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """A stable digest of a step call: the same function with the same arguments gives the same key."""
    text = json.dumps([qualname, list(args), kwargs], sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:64]


def run_once(fn: Callable[[], T], *, using: str, invocation_id: str, step: str, name: str, savepoint: bool = True) -> T:
    """Run ``fn`` in one transaction with its :class:`StepRun` row, or return what an earlier run of
    the same ``step`` in ``invocation_id`` committed, without calling ``fn``.

    The row is looked up before the transaction, so that the transaction's first statement is the
    step's own: on SQLite a read first would make the first write fail at once with "database is
    locked" instead of waiting for the lock. If an overlapping run commits its row first, this run's
    INSERT of its own fails, everything it wrote is rolled back with it, and the winner's result is
    returned. ``fn`` raising rolls back and raises.
    """
    runs = StepRun.objects.using(using).filter(invocation_id=invocation_id, step=step).values_list("result", flat=True)
    done = runs.first()
    if done is not None:
        return cast(T, load(bytes(done)))
    try:
        with transaction.atomic(using=using, savepoint=savepoint):
            result = fn()
            record = StepRun(invocation_id=invocation_id, step=step, name=name[:255], result=dump(result))
            record.save(using=using, force_insert=True)
    except IntegrityError:
        if transaction.get_connection(using).needs_rollback:  # inside an outer atomic() without a savepoint
            raise
        done = runs.first()
        if done is None:  # the step's own statement broke a constraint: not a race
            raise
        return cast(T, load(bytes(done)))
    return result


def current_invocation_id() -> str | None:
    """The id of the Restate invocation whose ``ctx.run`` action is running in this thread, if any.

    The SDK copies its context variables into the worker thread that runs a sync action.
    """
    from .log import current_invocation

    ctx = current_invocation()
    if ctx is None:
        return None
    return str(ctx.request().id)


def delete_expired(using: str, older_than: timedelta) -> int:
    """Delete step runs older than ``older_than``: Restate has forgotten those invocations' journals."""
    deleted, _ = StepRun.objects.using(using).filter(created_at__lt=timezone.now() - older_than).delete()
    return deleted


def load(result: bytes) -> Any:
    return pickle.loads(result)  # noqa: S301  (our own table, written by dump() below)


def dump(value: Any) -> bytes:
    return pickle.dumps(value)

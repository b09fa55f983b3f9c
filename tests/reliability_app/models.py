"""Rows the reliability handlers write, so a test can count what really executed."""

from django.db import models


class IncrementAudit(models.Model):
    """One row per applied increment. Written by a durable step keyed by the invocation id, so a
    replayed or retried step cannot add a second row: the count equals the increments applied."""

    invocation_id = models.CharField(max_length=64, unique=True)
    key = models.CharField(max_length=128, db_index=True)
    amount = models.IntegerField()
    value = models.BigIntegerField()


class AttemptCount(models.Model):
    """How many times a handler body really ran for one name. Counted outside the journal on
    purpose: every retry of the invocation adds one."""

    name = models.CharField(max_length=128, unique=True)
    attempts = models.PositiveIntegerField(default=0)


class StepEffect(models.Model):
    """One row each time a workflow step's side effect executes. Deliberately not idempotent:
    a step that ran twice leaves two rows."""

    workflow_id = models.CharField(max_length=128, db_index=True)
    step = models.CharField(max_length=32)


class Gate(models.Model):
    """A barrier that a workflow step waits at, so a test can kill servers while the step is in flight."""

    name = models.CharField(max_length=128, unique=True)
    is_open = models.BooleanField(default=False)
    entered = models.PositiveIntegerField(default=0)

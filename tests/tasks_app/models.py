"""Rows the test tasks write, so a test can count what really executed."""

from django.db import models


class TaskEffect(models.Model):
    """One row each time a task's body commits. Deliberately not idempotent (no unique key):
    a task that ran twice leaves two rows."""

    tag = models.CharField(max_length=128, db_index=True)
    attempt = models.PositiveIntegerField(default=0)

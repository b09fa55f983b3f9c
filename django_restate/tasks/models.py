"""The one table of ``django_restate.tasks``."""

from __future__ import annotations

from django.db import models


class CommittedAttempt(models.Model):
    """An attempt of a sync task whose database transaction committed, and what it returned.

    Written in the task's own transaction, so it exists if and only if the task's writes do.
    Restate journals an attempt's outcome only after the attempt returns: if the process dies
    between the COMMIT and that journal entry, Restate runs the attempt again, and this row
    answers it with the committed outcome instead of running the task a second time.
    """

    result_id = models.CharField(max_length=64)
    attempt = models.PositiveIntegerField()
    outcome = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["result_id", "attempt"], name="django_restate_task_attempt")]

    def __str__(self) -> str:
        return f"{self.result_id} attempt {self.attempt}"

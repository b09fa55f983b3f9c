"""Where the mock keeps Restate's durable data: in the test database.

State and workflow promises live in ordinary tables so that they persist across calls
within a test, roll back with the test's transaction, can be preloaded and asserted
with ORM queries, and show up in the admin during local development. Values are the
bytes the handler's serde wrote, exactly as Restate would store them.
"""

from __future__ import annotations

from typing import Any

from django.db import models

from ..state import decode_value


class ObjectState(models.Model):
    """One state entry of a Virtual Object or Workflow instance."""

    service = models.CharField(max_length=255)
    key = models.CharField(max_length=255)
    name = models.CharField(max_length=255)
    value = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["service", "key", "name"], name="mock_state_unique_entry")]
        ordering = ["service", "key", "name"]
        verbose_name = "mock state entry"
        verbose_name_plural = "mock state"

    def __str__(self) -> str:
        return f"{self.service}/{self.key}: {self.name}"

    @property
    def decoded(self) -> Any:
        """The value as the admin and tests read it (JSON decoded when it is JSON)."""
        return decode_value(bytes(self.value)).readable()


class WorkflowPromise(models.Model):
    """A durable promise of one workflow run, resolved with a value or rejected with a failure."""

    workflow = models.CharField(max_length=255)
    key = models.CharField(max_length=255)
    name = models.CharField(max_length=255)
    value = models.BinaryField(null=True, blank=True)
    failure_code = models.IntegerField(null=True, blank=True)
    failure_message = models.TextField(blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workflow", "key", "name"], name="mock_promise_unique_name"),
        ]
        ordering = ["workflow", "key", "name"]
        verbose_name = "mock workflow promise"

    def __str__(self) -> str:
        return f"{self.workflow}/{self.key}: {self.name}"

    @property
    def rejected(self) -> bool:
        return self.failure_code is not None

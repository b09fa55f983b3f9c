"""The outbox table: one row per send made inside a transaction, written in that transaction.

A row holds everything needed to send again (target, input bytes, headers, delay,
idempotency key), so a send that could not reach Restate at commit time, or whose
process died right after the commit, is delivered later by a relay
(:mod:`django_restate.outbox.relay`). Its ``status`` moves from ``pending`` to
``delivered`` when Restate accepts it, or to ``failed`` when Restate refuses it
(a 4xx, e.g. a service that is not registered): a failed row waits for a person.
"""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.utils import timezone


class OutboxMessage(models.Model):
    """A send to a Restate handler, recorded in the caller's transaction."""

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        DELIVERED = "delivered", "delivered"
        FAILED = "failed", "failed"

    created_at = models.DateTimeField(default=timezone.now)
    # The target: service, object key or workflow id (None for a Service), handler.
    service = models.CharField(max_length=255)
    key = models.TextField(null=True, blank=True)
    handler = models.CharField(max_length=255)
    body = models.BinaryField(null=True, blank=True)
    #: Headers of this send only (RESTATE["INGRESS_HEADERS"] are added at send time, never stored).
    headers = models.JSONField(default=dict, blank=True)
    #: The delay asked for, counted from ``created_at``: a late delivery waits only for what is left.
    delay_ms = models.BigIntegerField(null=True, blank=True)
    #: Sent with every attempt, so a repeat is harmless. None only for a workflow run (its id dedupes).
    idempotency_key = models.TextField(null=True, blank=True)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    #: A relay (or the commit that wrote the row) holds the row until then; others leave it alone.
    claimed_until = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=100, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    invocation_id = models.CharField(max_length=100, blank=True)

    class Meta:
        app_label = "django_restate"
        verbose_name = "outbox message"
        verbose_name_plural = "outbox"
        default_permissions = ("view",)
        permissions = [
            ("send_outboxmessage", "Can send outbox messages now"),
            ("discard_outboxmessage", "Can discard outbox messages"),
        ]
        indexes = [
            # What a relay looks for: pending rows that are due (partial: delivered rows are most rows).
            models.Index(fields=["next_attempt_at"], name="restate_outbox_due", condition=models.Q(status="pending")),
            # What the cleanup deletes.
            models.Index(
                fields=["delivered_at"], name="restate_outbox_delivered", condition=models.Q(status="delivered")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.target} #{self.pk}"

    @property
    def target(self) -> str:
        """``Service/handler`` or ``Object/key/handler``, as the client's errors name it."""
        if self.key is None:
            return f"{self.service}/{self.handler}"
        return f"{self.service}/{self.key}/{self.handler}"

    def is_overdue(self, now: datetime | None = None) -> bool:
        """Pending for longer than ``OUTBOX_OVERDUE_AFTER``: no relay sends it any more (see the docs)."""
        from .settings import overdue_cutoff

        return self.status == self.Status.PENDING and self.created_at <= overdue_cutoff(now)

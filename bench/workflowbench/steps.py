"""The workflow's three steps, plain sync Django ORM code shared by every side."""

from __future__ import annotations

import hashlib
import time

from .models import Order

CRUNCH_ROUNDS = 1000  # the CPU step: about half a millisecond of hashing


def insert_order(order_id: str) -> None:
    """Step 1: one INSERT (idempotent, so a retried step inserts once)."""
    Order.objects.bulk_create([Order(order_id=order_id, first_step_at=time.time())], ignore_conflicts=True)


def crunch(order_id: str) -> str:
    """Step 2: a small CPU step, no I/O."""
    digest = order_id.encode()
    for _ in range(CRUNCH_ROUNDS):
        digest = hashlib.sha256(digest).digest()
    return digest.hex()


def finish_order(order_id: str, digest: str) -> None:
    """Step 3: one UPDATE, stamping the time the workflow finished."""
    Order.objects.filter(order_id=order_id).update(status="done", digest=digest, done_at=time.time())

"""Writing a send into the caller's transaction, and sending it right after the commit.

:func:`record` inserts the row on the ``using`` database, inside whatever transaction
is open there, and registers the fast path with ``transaction.on_commit``: the row is
sent as soon as the transaction commits and marked delivered when Restate accepts it.
If the transaction rolls back, the row and the callback go with it: nothing is sent.
If the send fails, or the process dies before it, the row is still there, committed,
and a relay (:mod:`.relay`) delivers it.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime, timedelta

from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, router, transaction
from django.utils import timezone

from .delivery import Outcome, SendRequest, deliver, settle, target_of
from .models import OutboxMessage

logger = logging.getLogger("django_restate.outbox")

#: The commit that wrote a row holds it this long, so a relay does not send it alongside the
#: fast path (harmless with the idempotency key, but wasted). A process that died releases it so.
COMMIT_GRACE = timedelta(seconds=10)


#: After a send at commit time found Restate unreachable, this process's next commits leave their
#: sends to the relay for this many seconds rather than each wait for a refused connection (or a
#: timeout, when Restate hangs: a view with many sends would wait for each).
SKIP_AFTER_DOWN = 2.0
SKIPPED = "not sent at commit: Restate was unreachable moments before; a relay will send it"


#: Until when the fast path skips sending, per ingress URL (settings can change, in tests at least).
_down_until: dict[str, float] = {}


def _ingress() -> str:
    from ..client import client

    return client.url


class Pending:
    """A recorded send: the ``on_commit`` callback that sends it, and then what came of it.

    After the commit, ``outcome`` says whether Restate accepted it (``delivered``,
    with ``invocation_id``) or why not (``error``); a row that was not delivered
    is left to the relay, so the caller has nothing to do.
    """

    __slots__ = ("request", "using", "message_id", "created_at", "request_key", "outcome")

    def __init__(
        self, request: SendRequest, using: str, message_id: int, created_at: datetime, request_key: str | None
    ) -> None:
        self.request = request
        self.using = using
        self.message_id = message_id
        self.created_at = created_at
        #: The idempotency key the caller gave, before numbering (see :func:`derive_key`).
        self.request_key = request_key
        self.outcome: Outcome | None = None

    @property
    def idempotency_key(self) -> str | None:
        return self.request.idempotency_key

    @property
    def target(self) -> str:
        return target_of(self.request)

    @property
    def delivered(self) -> bool:
        return self.outcome is not None and self.outcome.verdict == "delivered"

    @property
    def error(self) -> str | None:
        return self.outcome.error if self.outcome is not None and self.outcome.error else None

    def __call__(self) -> None:
        """The commit's fast path."""
        if time.monotonic() < _down_until.get(_ingress(), 0.0):
            # Restate was unreachable a moment ago: leave the row to the relay (it keeps the commit's
            # claim until COMMIT_GRACE runs out) instead of making the view wait for another failure.
            self.outcome = Outcome("down", error=SKIPPED)
            return
        try:
            self.send(mark_later=True)
        except Exception:  # the transaction has committed: never fail the caller now, the relay will send
            logger.exception("Sending outbox message %s after the commit failed; a relay will send it", self.message_id)

    def send(self, *, mark_later: bool = False) -> Outcome:
        """Send now and write down the outcome (the commit leaves the writing to a thread: ``mark_later``)."""
        outcome = self.outcome = deliver(self.request, self.created_at)
        if outcome.verdict == "failed":
            logger.error("Restate refused %s (outbox message %s): %s", self.target, self.message_id, outcome.error)
        elif outcome.verdict != "delivered":
            # Once per outage, not once per send: a commit with 200 sends would log 200 warnings.
            url, now = _ingress(), time.monotonic()
            quiet = outcome.verdict == "down" and now < _down_until.get(url, 0.0) + SKIP_AFTER_DOWN
            if outcome.verdict == "down":
                _down_until[url] = now + SKIP_AFTER_DOWN
            logger.log(
                logging.DEBUG if quiet else logging.WARNING,
                "Sending %s after the commit failed; a relay will send it (outbox message %s): %s",
                self.target,
                self.message_id,
                outcome.error,
            )
        if mark_later:
            from .marks import marker

            marker.put(self.using, self.message_id, outcome)
        else:
            settle(self.using, [(self.message_id, outcome, 0)])
        return outcome

    def __repr__(self) -> str:
        return f"<Pending {self.target} #{self.message_id} {self.outcome.verdict if self.outcome else 'uncommitted'}>"


def record(request: SendRequest, *, using: str | None = None, request_key: str | None = None) -> Pending:
    """Write ``request`` to the outbox in the current transaction on ``using``; send it after the commit.

    ``request.idempotency_key`` is sent with every attempt (use :func:`derive_key`
    to get one); None only for a workflow run, whose workflow id makes a repeat
    harmless. ``request_key`` is the caller's own key it was derived from, if any.
    Outside a transaction the row is written and sent at once.
    """
    alias = using or DEFAULT_DB_ALIAS
    if not router.allow_migrate_model(alias, OutboxMessage):
        raise ImproperlyConfigured(
            f"Cannot record a send to {request.service}.{request.handler} on database {alias!r}: the database "
            "router keeps django_restate's tables (the outbox) off it. Allow django_restate on that database, "
            "or send within a transaction on one that has the outbox."
        )
    now = timezone.now()
    row = OutboxMessage(
        created_at=now,
        service=request.service,
        key=request.key,
        handler=request.handler,
        body=request.body,
        headers=dict(request.headers),
        delay_ms=None if request.delay is None else round(request.delay.total_seconds() * 1000),
        idempotency_key=request.idempotency_key,
        next_attempt_at=now,
        claimed_until=now + COMMIT_GRACE,
        claimed_by="commit",
    )
    row.save(using=alias, force_insert=True)
    assert row.pk is not None
    pending = Pending(request, alias, row.pk, now, request_key)
    transaction.on_commit(pending, using=alias)
    return pending


def derive_key(target: str, base: str | None, using: str | None = None) -> str:
    """The idempotency key of a send: a random one, or ``base`` numbered within the transaction.

    The n-th send to ``target`` with the same ``base`` in one transaction gets
    ``"<base>#<n>"``, so a view that sends twice sends twice, and its retried
    request (same ``base``) sends nothing new. Sends of a rolled-back savepoint
    no longer count (Django drops their callbacks).
    """
    if base is None:
        return uuid.uuid4().hex
    connection = transaction.get_connection(using)
    earlier = sum(
        1
        for _, func, *_ in connection.run_on_commit
        # Pending, or the mock's queued send (django_restate.testing): both know their request_key and target.
        if getattr(func, "request_key", None) == base and getattr(func, "target", None) == target
    )
    return base if earlier == 0 else f"{base}#{earlier + 1}"

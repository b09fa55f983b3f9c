"""Sending one outbox row to Restate, and writing down what happened.

The request itself is the client's (``client.http.request`` / ``arequest``:
settings, headers, error mapping), so the outbox and ``send()`` speak to the ingress
the same way. What the outbox adds is the verdict on a failure:

- ``down``: the ingress could not be reached or did not answer in time. The row stays
  due; the relay backs off as a whole (everything else would fail the same way).
- ``retry``: Restate answered 5xx, 408 or 429. The row is tried again later, with its own
  exponential backoff.
- ``failed``: Restate refused the send (another 4xx: an unknown service or handler after a
  deploy, an input the handler rejects). Sending again would be refused again: the row waits
  for a person (the admin's Outbox page: "send now" or "discard").
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

from django.db import connections, transaction
from django.db.models import F
from django.utils import timezone

from ..exceptions import IngressError, IngressTimeout, IngressUnreachable
from .models import OutboxMessage

logger = logging.getLogger("django_restate.outbox")

#: Restate statuses that mean "not now" rather than "never".
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: The longest a row waits between two attempts after a 5xx.
MAX_ROW_BACKOFF = 300.0

Verdict = Literal["delivered", "down", "retry", "failed"]


class SendRequest(Protocol):
    """What the outbox stores of a send: any object with these attributes."""

    @property
    def service(self) -> str: ...
    @property
    def handler(self) -> str: ...
    @property
    def key(self) -> str | None: ...
    @property
    def body(self) -> bytes | None: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def idempotency_key(self) -> str | None: ...
    @property
    def delay(self) -> timedelta | None: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    verdict: Verdict
    invocation_id: str = ""
    #: Restate's word on an accepted send: "Accepted", or "PreviouslyAccepted" for a repeat.
    status: str | None = None
    error: str = ""


def row_request(row: OutboxMessage) -> Send:
    """The send a row holds."""
    return Send(
        service=row.service,
        handler=row.handler,
        key=row.key,
        body=bytes(row.body) if row.body is not None else None,
        headers=dict(row.headers or {}),
        idempotency_key=row.idempotency_key,
        delay=None if row.delay_ms is None else timedelta(milliseconds=row.delay_ms),
    )


@dataclass(frozen=True, slots=True)
class Send:
    """A send as the outbox holds it (the fields of :class:`SendRequest`)."""

    service: str
    handler: str
    key: str | None
    body: bytes | None
    headers: Mapping[str, str]
    idempotency_key: str | None
    delay: timedelta | None


def deliver(request: SendRequest, recorded_at: datetime) -> Outcome:
    """Send now, in this thread. A delay counts from ``recorded_at``: only what is left of it is asked for."""
    from ..client import client
    from ..client.http import accepted

    path, target, headers = _http_args(request, recorded_at)
    try:
        response = client.http.request("POST", path, target, content=request.body, headers=headers, failover=False)
        answer = accepted(response)
    except Exception as exc:  # noqa: BLE001  (a verdict for every failure, never lost in a callback)
        return judge(exc)
    return Outcome("delivered", answer.invocation_id, answer.status)


async def adeliver(request: SendRequest, recorded_at: datetime) -> Outcome:
    """Send now, from the running event loop (the relay sends many at once)."""
    from ..client import client
    from ..client.http import accepted

    path, target, headers = _http_args(request, recorded_at)
    try:
        response = await client.http.arequest(
            "POST", path, target, content=request.body, headers=headers, failover=False
        )
        answer = accepted(response)
    except Exception as exc:  # noqa: BLE001
        return judge(exc)
    return Outcome("delivered", answer.invocation_id, answer.status)


def _http_args(request: SendRequest, recorded_at: datetime) -> tuple[str, str, Mapping[str, str] | None]:
    """The client's ingress path and headers for this send (its delay counted from ``recorded_at``)."""
    from ..client.http import send_path, with_idempotency_key

    delay = None if request.delay is None else max(request.delay - (timezone.now() - recorded_at), timedelta(0))
    path = send_path(request.service, request.key, request.handler, delay)
    return path, target_of(request), with_idempotency_key(request.headers, request.idempotency_key)


def target_of(request: SendRequest) -> str:
    """``Service/handler`` or ``Object/key/handler``, as the client's errors name it."""
    return "/".join([request.service, *([request.key] if request.key is not None else []), request.handler])


def judge(exc: BaseException) -> Outcome:
    """The verdict on a failed send."""
    if isinstance(exc, (IngressUnreachable, IngressTimeout)):
        return Outcome("down", error=str(exc))
    if isinstance(exc, IngressError):
        verdict: Verdict = "retry" if exc.status_code in RETRY_STATUSES or exc.status_code >= 500 else "failed"
        return Outcome(verdict, error=f"{exc.status_code} {exc.message}")
    logger.exception("Sending an outbox row failed unexpectedly")
    return Outcome("retry", error=f"{type(exc).__name__}: {exc}")


def settle(using: str, results: Iterable[tuple[int, Outcome, int]], now: datetime | None = None) -> None:
    """Write down outcomes: ``(row id, outcome, attempts before it)`` each, in one transaction.

    Delivered rows (the common case) take two statements however many they are. A failure never
    overwrites a row someone else has marked delivered meanwhile (a commit's fast path, another
    relay after a lease ran out): delivered is final.
    """
    now = now or timezone.now()
    delivered: list[OutboxMessage] = []
    others: list[tuple[int, Outcome, int]] = []
    for pk, outcome, attempts in results:
        if outcome.verdict == "delivered":
            delivered.append(OutboxMessage(pk=pk, invocation_id=outcome.invocation_id))
        else:
            others.append((pk, outcome, attempts))
    table = OutboxMessage.objects.using(using)
    with unsynced(using):
        if delivered:
            table.filter(pk__in=[row.pk for row in delivered]).update(
                status=OutboxMessage.Status.DELIVERED,
                delivered_at=now,
                next_attempt_at=now,
                claimed_until=None,
                last_error="",
                attempts=F("attempts") + 1,
            )
            table.bulk_update(delivered, ["invocation_id"])
        pending = table.exclude(status=OutboxMessage.Status.DELIVERED)
        for pk, outcome, attempts in others:
            failed = outcome.verdict == "failed"
            # "down" stays due: the relay waits as a whole and then catches up at once.
            wait = timedelta(0) if outcome.verdict != "retry" else row_backoff(attempts + 1)
            pending.filter(pk=pk).update(
                status=OutboxMessage.Status.FAILED if failed else OutboxMessage.Status.PENDING,
                next_attempt_at=now + wait,
                claimed_until=None,
                last_error=outcome.error[:2000],
                attempts=F("attempts") + 1,
            )


@contextmanager
def unsynced(using: str) -> Iterator[None]:
    """A transaction whose COMMIT does not wait for the disk, on PostgreSQL.

    Only for writing down outcomes: if the server crashes before the write reaches the disk, the
    row is still pending and is sent again, which its idempotency key makes harmless. Not
    waiting for the flush saves an fsync per write.
    """
    with transaction.atomic(using=using):
        connection = connections[using]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        yield


def row_backoff(attempts: int) -> timedelta:
    """1 s, 2 s, 4 s, ... up to 5 minutes, with jitter so rows that failed together spread out."""
    seconds = min(MAX_ROW_BACKOFF, 2.0 ** max(attempts - 1, 0))
    return timedelta(seconds=seconds * random.uniform(0.8, 1.2))

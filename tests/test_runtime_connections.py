"""Handlers that use the ORM do not leak PostgreSQL connections: pg_stat_activity stays flat
over 2,000 invocations, each with an async ORM read in the handler and a sync ORM write in a step."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from django.conf import settings
from django.db import connection

from django_restate.client import client
from django_restate.testing import eventually
from tests.runtime_app.models import Note
from tests.runtime_app.restate_services import RuntimeNotebook

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
        reason="SQLite has no server connections to count; this runs in the PostgreSQL pass",
    ),
]

INVOCATIONS = 2000
CONCURRENCY = 16
KEYS = 64  # a Virtual Object runs one exclusive handler per key at a time


def connections_to_test_database() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return int(cursor.fetchone()[0])


def test_connection_count_stays_flat(restate_live):
    prefix = f"flat-{uuid.uuid4().hex[:8]}"
    keys = [f"{prefix}-{n}" for n in range(KEYS)]
    before = connections_to_test_database()
    peak = before

    async def batch(start: int, size: int) -> list[int]:
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(n: int) -> int:
            async with gate:
                return await client.object(RuntimeNotebook, keys[n % KEYS]).touch.acall()

        try:
            return await asyncio.gather(*(one(n) for n in range(start, start + size)))
        finally:
            await client.aclose()

    results: list[int] = []
    for start in range(0, INVOCATIONS, 500):
        results += asyncio.run(batch(start, 500))
        peak = max(peak, connections_to_test_database())

    assert len(results) == INVOCATIONS
    assert Note.objects.filter(key__startswith=prefix).count() == INVOCATIONS

    def none_leaked() -> None:  # a last attempt may still be closing its connection
        after = connections_to_test_database()
        assert after <= before, f"{after - before} connections leaked over {INVOCATIONS} invocations (peak {peak})"

    eventually(none_leaked, 5, 0.1)


@pytest.mark.django_db(transaction=True)
def test_a_thread_that_ended_is_forgotten_with_its_connection_record():
    """The endpoint hops to close stale connections only while a live thread may hold one: a thread
    that connected and ended is not counted, nor confused with a new thread given its ident."""
    import gc
    import threading

    from django.db import connections

    from django_restate import runtime

    def connect() -> None:
        connections["default"].ensure_connection()  # remembered: it now holds a connection
        connections["default"].close()  # (closed behind the record's back, as a thread that dies leaves it)

    worker = threading.Thread(target=connect, name="a-view-thread")
    worker.start()
    worker.join()
    assert worker in runtime._threads_with_connections
    ident = worker.ident
    del worker
    gc.collect()
    assert not any(thread.ident == ident for thread in runtime._threads_with_connections)

"""The mock's durable data in the ORM: object state and workflow promises.

Plain synchronous functions; the mock calls them through ``sync_to_async`` in the
thread that owns the test's database connection, so they run inside the test's
transaction and roll back with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper

from .models import ObjectState, WorkflowPromise
from .replay import Failure

#: One pending state write: ("set", name, value), ("clear", name, None) or ("clear_all", "", None).
StateWrite = tuple[str, str, bytes | None]


def load_state(service: str, key: str) -> dict[str, bytes]:
    # Plain SQL on the hot path of every mock call: the ORM's query building costs more than
    # the query itself, and a mock call should cost well under a millisecond. The connection is
    # looked up once (each ``django.db.connection`` attribute is a thread-local lookup).
    connection = connections[DEFAULT_DB_ALIAS]
    with connection.cursor() as cursor:
        cursor.execute(_sql(connection)["load"], [service, key])
        return {name: bytes(value) for name, value in cursor.fetchall()}


def apply_writes(service: str, key: str, writes: Iterable[StateWrite]) -> None:
    """Apply the writes an invocation made since its last flush, in order."""
    connection = connections[DEFAULT_DB_ALIAS]
    sql = _sql(connection)
    with connection.cursor() as cursor:
        for op, name, value in writes:
            if op == "set" and sql["upsert"]:
                cursor.execute(sql["upsert"], [service, key, name, value])
            elif op == "set":
                if not ObjectState.objects.filter(service=service, key=key, name=name).update(value=value):
                    ObjectState.objects.create(service=service, key=key, name=name, value=value)
            elif op == "clear":
                cursor.execute(sql["clear"], [service, key, name])
            else:
                cursor.execute(sql["clear_all"], [service, key])


_STATEMENTS: dict[str, dict[str, str]] = {}


def _sql(connection: BaseDatabaseWrapper) -> dict[str, str]:
    """The statements for this database, quoted by its own backend."""
    statements = _STATEMENTS.get(connection.vendor)
    if statements is None:
        statements = _STATEMENTS[connection.vendor] = _statements(connection)
    return statements


def _statements(connection: BaseDatabaseWrapper) -> dict[str, str]:
    quoted = {
        "table": connection.ops.quote_name(ObjectState._meta.db_table),
        **{field: connection.ops.quote_name(field) for field in ("service", "key", "name", "value")},
    }
    table, service, key, name, value = (quoted[n] for n in ("table", "service", "key", "name", "value"))
    where = f"{service} = %s AND {key} = %s"
    upsert = ""
    if connection.vendor in ("sqlite", "postgresql"):
        upsert = (
            f"INSERT INTO {table} ({service}, {key}, {name}, {value}) VALUES (%s, %s, %s, %s) "
            f"ON CONFLICT ({service}, {key}, {name}) DO UPDATE SET {value} = excluded.{value}"
        )
    return {
        "load": f"SELECT {name}, {value} FROM {table} WHERE {where}",
        "upsert": upsert,
        "clear": f"DELETE FROM {table} WHERE {where} AND {name} = %s",
        "clear_all": f"DELETE FROM {table} WHERE {where}",
    }


def replace_state(service: str, key: str, entries: Mapping[str, bytes]) -> None:
    ObjectState.objects.filter(service=service, key=key).delete()
    ObjectState.objects.bulk_create(
        ObjectState(service=service, key=key, name=name, value=value) for name, value in entries.items()
    )


def load_promises(workflow: str, key: str) -> dict[str, bytes | Failure]:
    """The completed promises of one workflow run: a value, or the failure it was rejected with."""
    loaded: dict[str, bytes | Failure] = {}
    for row in WorkflowPromise.objects.filter(workflow=workflow, key=key):
        if row.failure_code is not None:
            loaded[row.name] = Failure(row.failure_code, row.failure_message)
        else:
            loaded[row.name] = bytes(row.value or b"")
    return loaded


def complete_promise(workflow: str, key: str, name: str, result: bytes | Failure) -> bool:
    """Resolve or reject a promise; False when it was already completed (Restate answers 409)."""
    if WorkflowPromise.objects.filter(workflow=workflow, key=key, name=name).exists():
        return False
    if isinstance(result, Failure):
        WorkflowPromise.objects.create(
            workflow=workflow, key=key, name=name, failure_code=result.code, failure_message=result.message
        )
    else:
        WorkflowPromise.objects.create(workflow=workflow, key=key, name=name, value=result)
    return True
